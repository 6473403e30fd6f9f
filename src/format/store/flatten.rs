//! Metadata flattening for the line-based stores (dotenv, INI), as sops 3.11 `stores/flatten.go`
//! does it, both directions.
//!
//! A map member becomes `<parent>__map_<key>`, a list element `<parent>__list_<index>`, top-level
//! keys keep their name: `age__list_0__map_enc`, `key_groups__list_1__map_age__list_0__map_recipient`.
//! Every value becomes text: strings with each newline written as the two characters `\n`,
//! booleans `true`/`false`, integers in decimal. Nulls and empty maps or lists vanish (so the
//! `hc_vault: null` of a key group is not written). Reading reverses it: `\n` becomes a newline
//! in every value, `mac_only_encrypted` becomes a boolean (true only for `true`), and
//! `shamir_threshold` an integer; every other value stays text (the metadata reader accepts
//! text). List positions that are missing become nulls.

use std::collections::{BTreeMap, HashMap};

use super::{Format, MAX_DEPTH, StoreError};
use crate::format::scalar::{Scalar, format_float_plain};
use crate::format::tree::{Map, Node};

const MAP_SEPARATOR: &str = "__map_";
const LIST_SEPARATOR: &str = "__list_";

/// Flattened metadata: `(flat key, text)` pairs.
pub(crate) type Flat = Vec<(String, String)>;

/// A flattened metadata key that cannot be turned back into a tree, or a metadata value that
/// cannot be flattened.
#[derive(Debug)]
pub(crate) struct FlattenError {
    pub key: String,
    pub message: String,
}

impl FlattenError {
    pub(crate) fn new(key: &str, message: impl Into<String>) -> Self {
        FlattenError { key: key.to_owned(), message: message.into() }
    }

    pub(crate) fn with(self, format: Format) -> StoreError {
        StoreError::Metadata { format, key: self.key, message: self.message }
    }
}

/// The metadata tree as `(flat key, text)` pairs, sorted by key in byte order (the order the
/// dotenv store writes them), without any `sops_` prefix.
pub(crate) fn flatten(metadata: &Map) -> Result<Flat, FlattenError> {
    let mut flat = BTreeMap::new();
    for (key, value) in metadata.entries() {
        flatten_into(key.to_owned(), value, &mut flat)?;
    }
    Ok(flat.into_iter().collect())
}

fn flatten_into(
    key: String,
    node: &Node,
    out: &mut BTreeMap<String, String>,
) -> Result<(), FlattenError> {
    let text = match node {
        Node::Map(m) => {
            for (k, v) in m.entries() {
                flatten_into(format!("{key}{MAP_SEPARATOR}{k}"), v, out)?;
            }
            return Ok(());
        }
        Node::List(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_into(format!("{key}{LIST_SEPARATOR}{i}"), v, out)?;
            }
            return Ok(());
        }
        Node::Comment(_) | Node::Scalar(Scalar::Null) => return Ok(()),
        Node::Scalar(Scalar::Str(b)) => match std::str::from_utf8(b) {
            Ok(s) => s.replace('\n', "\\n"),
            Err(_) => return Err(FlattenError::new(&key, "the metadata value is not UTF-8 text")),
        },
        Node::Scalar(Scalar::Bool(b)) => b.to_string(),
        Node::Scalar(Scalar::Int(i)) => i.to_string(),
        Node::Scalar(Scalar::Float(f)) => format_float_plain(*f),
        Node::Scalar(Scalar::Time(t)) => t.to_rfc3339_secs(),
    };
    out.insert(key, text);
    Ok(())
}

/// One step of a flattened key.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Key(&'a str),
    Index(&'a str),
}

/// Splits a flattened key at every `__map_` and `__list_`, scanning left to right as sops does.
fn tokenize(path: &str) -> Vec<Token<'_>> {
    #[derive(Clone, Copy)]
    enum State {
        Normal,
        Map,
        List,
    }
    let bytes = path.as_bytes();
    let mut tokens = Vec::new();
    let mut state = State::Normal;
    let mut last = 0;
    let mut i = 0;
    let mut finish = |state: State, last: usize, i: usize| match state {
        State::Normal => tokens.push(Token::Key(&path[last..i])),
        State::Map => tokens.push(Token::Key(&path[last + MAP_SEPARATOR.len()..i])),
        State::List => tokens.push(Token::Index(&path[last + LIST_SEPARATOR.len()..i])),
    };
    while i < bytes.len() {
        if bytes[i..].starts_with(MAP_SEPARATOR.as_bytes()) {
            finish(state, last, i);
            last = i;
            state = State::Map;
            i += MAP_SEPARATOR.len();
        } else if bytes[i..].starts_with(LIST_SEPARATOR.as_bytes()) {
            finish(state, last, i);
            last = i;
            state = State::List;
            i += LIST_SEPARATOR.len();
        } else {
            i += 1;
        }
    }
    finish(state, last, i);
    tokens
}

/// Rebuilds the metadata tree from flattened pairs (without the `sops_` prefix), in the order
/// the keys first appear. A later duplicate key replaces the earlier value.
///
/// Linear in the input: lookups go through an index, the list slots all lists may grow to are
/// bounded by the number of pairs (a list sops wrote has at least one pair per element), and a
/// key may nest at most [`MAX_DEPTH`] levels.
pub(crate) fn unflatten(pairs: Flat) -> Result<Map, FlattenError> {
    let mut budget = pairs.len();
    let mut root = Slot::Map(Vec::new(), HashMap::new());
    for (key, value) in pairs {
        let value = value.replace("\\n", "\n");
        let node = match key.as_str() {
            "mac_only_encrypted" => Node::Scalar(Scalar::Bool(value == "true")),
            "shamir_threshold" => match value.parse::<i64>() {
                Ok(i) => Node::Scalar(Scalar::Int(i)),
                Err(_) => {
                    return Err(FlattenError::new(&key, "shamir_threshold is not an integer"));
                }
            },
            _ => Node::Scalar(Scalar::str(value)),
        };
        let tokens = tokenize(&key);
        if tokens.len() > MAX_DEPTH {
            return Err(FlattenError::new(&key, format!("the key nests deeper than {MAX_DEPTH}")));
        }
        insert(&mut root, &tokens, node, &key, &mut budget)?;
    }
    match root.into_node() {
        Node::Map(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// A tree under construction, with an index over each map's keys.
enum Slot {
    Empty,
    Leaf(Node),
    Map(Vec<(String, Slot)>, HashMap<String, usize>),
    List(Vec<Slot>),
}

impl Slot {
    fn into_node(self) -> Node {
        match self {
            Slot::Empty => Node::Scalar(Scalar::Null),
            Slot::Leaf(node) => node,
            Slot::Map(entries, _) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.push(k, v.into_node());
                }
                Node::Map(map)
            }
            Slot::List(items) => Node::List(items.into_iter().map(Slot::into_node).collect()),
        }
    }
}

fn insert(
    slot: &mut Slot,
    tokens: &[Token<'_>],
    value: Node,
    key: &str,
    budget: &mut usize,
) -> Result<(), FlattenError> {
    let Some((token, rest)) = tokens.split_first() else {
        *slot = Slot::Leaf(value);
        return Ok(());
    };
    let conflict = || {
        FlattenError::new(
            key,
            "the key nests under a part that already holds a different kind of value",
        )
    };
    match token {
        Token::Key(name) => {
            if matches!(slot, Slot::Empty) {
                *slot = Slot::Map(Vec::new(), HashMap::new());
            }
            let Slot::Map(entries, index) = slot else { return Err(conflict()) };
            let at = *index.entry((*name).to_owned()).or_insert_with(|| {
                entries.push(((*name).to_owned(), Slot::Empty));
                entries.len() - 1
            });
            insert(&mut entries[at].1, rest, value, key, budget)
        }
        Token::Index(text) => {
            let index: usize = text.parse().map_err(|_| {
                FlattenError::new(key, format!("list index `{text}` is not a whole number"))
            })?;
            if matches!(slot, Slot::Empty) {
                *slot = Slot::List(Vec::new());
            }
            let Slot::List(items) = slot else { return Err(conflict()) };
            if items.len() <= index {
                let grow = index + 1 - items.len();
                if grow > *budget {
                    return Err(FlattenError::new(
                        key,
                        format!("list index {index} is larger than the number of metadata entries"),
                    ));
                }
                *budget -= grow;
                items.resize_with(index + 1, || Slot::Empty);
            }
            insert(&mut items[index], rest, value, key, budget)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age_metadata() -> Map {
        let mut stanza = Map::new();
        stanza.push("recipient", Node::str("age1xyz"));
        stanza.push(
            "enc",
            Node::str(
                "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n",
            ),
        );
        let mut md = Map::new();
        md.push("age", Node::List(vec![Node::Map(stanza)]));
        md.push("lastmodified", Node::str("2026-11-22T01:57:09Z"));
        md.push("mac", Node::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"));
        md.push("unencrypted_suffix", Node::str("_unencrypted"));
        md.push("version", Node::str("3.11.0"));
        md
    }

    #[test]
    fn flattens_like_sops_sorted_with_escaped_newlines() {
        let flat = flatten(&age_metadata()).unwrap();
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "age__list_0__map_enc",
                "age__list_0__map_recipient",
                "lastmodified",
                "mac",
                "unencrypted_suffix",
                "version"
            ]
        );
        assert_eq!(
            flat[0].1,
            "-----BEGIN AGE ENCRYPTED FILE-----\\nabc\\n-----END AGE ENCRYPTED FILE-----\\n"
        );
    }

    #[test]
    fn drops_nulls_and_empty_containers_and_prints_bools_and_ints() {
        let mut group = Map::new();
        group.push("hc_vault", Node::List(vec![]));
        group.push("pgp", Node::Scalar(Scalar::Null));
        group.push(
            "age",
            Node::List(vec![Node::Map({
                let mut m = Map::new();
                m.push("recipient", Node::str("r"));
                m
            })]),
        );
        let mut md = Map::new();
        md.push("shamir_threshold", Node::Scalar(Scalar::Int(2)));
        md.push("key_groups", Node::List(vec![Node::Map(group)]));
        md.push("mac_only_encrypted", Node::Scalar(Scalar::Bool(true)));
        md.push("empty", Node::Map(Map::new()));
        let flat = flatten(&md).unwrap();
        assert_eq!(
            flat,
            [
                ("key_groups__list_0__map_age__list_0__map_recipient".to_owned(), "r".to_owned()),
                ("mac_only_encrypted".to_owned(), "true".to_owned()),
                ("shamir_threshold".to_owned(), "2".to_owned()),
            ]
        );
    }

    #[test]
    fn unflatten_inverts_flatten() {
        // Keys come back in flattened (sorted) order; the metadata they describe is the same.
        let md = age_metadata();
        let flat = flatten(&md).unwrap();
        let back = unflatten(flat.clone()).unwrap();
        assert_eq!(flatten(&back).unwrap(), flat);
        use crate::format::metadata::Metadata;
        assert_eq!(Metadata::from_tree(&back).unwrap(), Metadata::from_tree(&md).unwrap());
    }

    #[test]
    fn unflatten_types_the_two_non_string_fields() {
        let pairs = vec![
            ("mac_only_encrypted".to_owned(), "true".to_owned()),
            ("shamir_threshold".to_owned(), "3".to_owned()),
        ];
        let md = unflatten(pairs).unwrap();
        assert_eq!(md.get("mac_only_encrypted"), Some(&Node::Scalar(Scalar::Bool(true))));
        assert_eq!(md.get("shamir_threshold"), Some(&Node::Scalar(Scalar::Int(3))));
        let md = unflatten(vec![("mac_only_encrypted".to_owned(), "yes".to_owned())]).unwrap();
        assert_eq!(md.get("mac_only_encrypted"), Some(&Node::Scalar(Scalar::Bool(false))));
    }

    #[test]
    fn unflatten_fills_missing_list_positions_with_null() {
        let md = unflatten(vec![
            ("age__list_1__map_recipient".to_owned(), "r".to_owned()),
            ("x".to_owned(), "y".to_owned()),
        ])
        .unwrap();
        let Some(Node::List(items)) = md.get("age") else { panic!() };
        assert_eq!(items[0], Node::Scalar(Scalar::Null));
        assert!(items[1].as_map().is_some());
    }

    #[test]
    fn tokenizes_left_to_right() {
        assert_eq!(
            tokenize("key_groups__list_2__map_age__list_0__map_enc"),
            [
                Token::Key("key_groups"),
                Token::Index("2"),
                Token::Key("age"),
                Token::Index("0"),
                Token::Key("enc")
            ]
        );
        assert_eq!(tokenize("version"), [Token::Key("version")]);
    }

    #[test]
    fn rejects_bad_list_indexes_naming_the_key() {
        let e = unflatten(vec![("age__list_x__map_enc".to_owned(), "v".to_owned())]).unwrap_err();
        assert_eq!(e.key, "age__list_x__map_enc");
        assert_eq!(e.message, "list index `x` is not a whole number");
        let e = unflatten(vec![("age__list_99999999999__map_enc".to_owned(), "v".to_owned())])
            .unwrap_err();
        assert!(e.message.contains("larger than the number of metadata entries"), "{}", e.message);
    }

    #[test]
    fn list_growth_is_bounded_by_the_number_of_entries() {
        // Each key alone is within bounds; together they would allocate n² slots.
        let n = 200;
        let pairs: Flat =
            (0..n).map(|i| (format!("k{i}__list_{}", n - 1), "v".to_owned())).collect();
        let e = unflatten(pairs).unwrap_err();
        assert!(e.message.contains("larger than the number of metadata entries"), "{}", e.message);
    }

    #[test]
    fn refuses_keys_nested_too_deep() {
        let key = format!("a{}", "__map_x".repeat(MAX_DEPTH + 1));
        let e = unflatten(vec![(key, "v".to_owned())]).unwrap_err();
        assert!(e.message.contains("nests deeper than"), "{}", e.message);
    }

    #[test]
    fn many_keys_unflatten_quickly() {
        let pairs: Flat = (0..100_000).map(|i| (format!("key{i}"), "v".to_owned())).collect();
        let start = std::time::Instant::now();
        assert_eq!(unflatten(pairs).unwrap().0.len(), 100_000);
        assert!(start.elapsed().as_secs() < 5, "unflatten is not linear");
    }

    #[test]
    fn rejects_a_key_used_as_value_and_container() {
        let e = unflatten(vec![
            ("age".to_owned(), "v".to_owned()),
            ("age__list_0__map_enc".to_owned(), "w".to_owned()),
        ])
        .unwrap_err();
        assert_eq!(e.key, "age__list_0__map_enc");
        assert!(e.message.contains("already holds a different kind of value"));
    }

    #[test]
    fn refuses_to_flatten_non_text_metadata_naming_the_key() {
        let mut md = Map::new();
        md.push("mac", Node::Scalar(Scalar::bytes(vec![0xff])));
        let e = flatten(&md).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("mac", "the metadata value is not UTF-8 text")
        );
    }

    #[test]
    fn rejects_non_integer_threshold() {
        let e = unflatten(vec![("shamir_threshold".to_owned(), "two".to_owned())]).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("shamir_threshold", "shamir_threshold is not an integer")
        );
    }
}
