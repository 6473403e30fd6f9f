//! Property tests: random trees round-trip, and no input makes the parser panic.
//! Random SOPS trees survive emit → parse unchanged, comments included where YAML holds them.

use proptest::prelude::*;
use zeroize::Zeroizing;

use crate::format::scalar::Scalar;
use crate::format::store::yaml::{emit, emit_value, parse};
use crate::format::timestamp::Timestamp;
use crate::format::tree::{Comment, Item, Map, Node};

/// Pieces that stress quoting and block styles.
const NASTY: &[&str] = &[
    "'",
    "\"",
    ":",
    ": ",
    "#",
    " #",
    "- ",
    "-",
    " ",
    "  ",
    "\n",
    "\n\n",
    "\t",
    "\r",
    "\r\n",
    "é",
    "世",
    "😀",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "\u{a0}",
    "\0",
    "\u{1}",
    "\u{7f}",
    "\\",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&",
    "*",
    "!",
    "|",
    ">",
    "%",
    "@",
    "`",
    "?",
    "---",
    "...",
    "~",
    "null",
    "true",
    "yes",
    "no",
    "on",
    "1",
    "0x1F",
    "017",
    "1e3",
    ".5",
    ".inf",
    "2024-01-02",
    "12:30",
    "a",
    "b",
    "key",
    "<<",
    "=",
    "0",
    "-1",
    "+",
    "_",
];

fn nasty_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NASTY), 0..7).prop_map(|v| v.concat())
}

/// Strings that go-yaml writes as block scalars it cannot read back: a first line starting with
/// a tab (sops writes null instead), and a leading space or line break, whose indentation
/// indicator is wrong inside a sequence (see the corpus case `values-block-hint-in-list`).
fn representable(s: &str) -> bool {
    !(s.contains('\n') && s.starts_with(['\t', ' ', '\n', '\u{2028}', '\u{2029}']))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![4 => nasty_text(), 1 => ".{0,20}"]
        .prop_filter("representable", |s| representable(s))
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("a float that does not read back as an int", |f| {
            f.is_finite() && *f != 0.0 && (f.fract() != 0.0 || f.abs() >= 1e6)
        }),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        0i64..=9999,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        0u32..1_000_000_000,
        -1439i32..=1439,
    )
        .prop_map(|(y, mo, d, h, mi, s, ns, off)| {
            Timestamp::from_civil((y, mo, d), (h, mi, s), ns, off * 60).expect("valid civil time")
        })
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        1 => Just(Scalar::Null),
        1 => any::<bool>().prop_map(Scalar::Bool),
        1 => any::<i64>().prop_map(Scalar::Int),
        1 => float().prop_map(Scalar::Float),
        1 => timestamp().prop_map(Scalar::Time),
        4 => text().prop_map(Scalar::str),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Scalar::Str(Zeroizing::new(b))),
    ]
    .prop_filter("representable bytes", |s| match s {
        Scalar::Str(b) => std::str::from_utf8(b).map_or(true, representable),
        _ => true,
    })
}

fn comment() -> impl Strategy<Value = Comment> {
    // A comment is one line of printable text.
    "[ -~\téü世✓]{0,16}".prop_map(Comment::new)
}

/// Puts each comment before the value its index points at, or after the last value.
fn with_comments<T: Clone>(
    values: Vec<T>,
    comments: Vec<(usize, Comment)>,
    wrap: fn(Comment) -> T,
) -> Vec<T> {
    let slots = values.len() + 1;
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        out.extend(comments.iter().filter(|(at, _)| at % slots == i).map(|(_, c)| wrap(c.clone())));
        out.push(v.clone());
    }
    out.extend(
        comments.iter().filter(|(at, _)| at % slots == values.len()).map(|(_, c)| wrap(c.clone())),
    );
    out
}

/// A key that go-yaml writes as a simple key: no line break, at most 128 bytes (complex `? `
/// keys are covered by the corpus).
fn key() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = NASTY
        .iter()
        .copied()
        .filter(|p| !p.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']))
        .collect();
    prop::collection::vec(prop::sample::select(pieces), 0..7).prop_map(|v| v.concat())
}

fn node() -> BoxedStrategy<Node> {
    let leaf = scalar().prop_map(Node::Scalar);
    leaf.prop_recursive(4, 48, 5, move |inner| {
        let entries = prop::collection::vec((key(), inner.clone()), 0..5);
        let items = prop::collection::vec(inner, 0..5);
        let comments = || prop::collection::vec((any::<usize>(), comment()), 0..3);
        prop_oneof![
            (entries, comments()).prop_map(|(e, c)| Node::Map(map(e, c))),
            (items, comments()).prop_map(|(i, c)| Node::List(with_comments(i, c, Node::Comment))),
        ]
    })
    .boxed()
}

fn map(entries: Vec<(String, Node)>, comments: Vec<(usize, Comment)>) -> Map {
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<Item> = entries
        .into_iter()
        .filter(|(k, _)| k != "<<" && seen.insert(k.clone()))
        .map(|(k, v)| Item::Entry(k, v))
        .collect();
    Map(with_comments(entries, comments, Item::Comment))
}

fn document() -> impl Strategy<Value = Map> {
    let entries = prop::collection::vec((key(), node()), 0..6);
    let comments = prop::collection::vec((any::<usize>(), comment()), 0..4);
    (entries, comments).prop_map(|(e, c)| {
        let mut m = map(e, c);
        representable_map(&mut m, false);
        m
    })
}

/// Drops the comments that YAML cannot hold where the tree has them. go-yaml (and so sops) reads
/// them back elsewhere, as the corpus shows:
/// - in an empty map or list (nothing to attach to: dropped or moved to the next key);
/// - before the first entry or item of a collection that is itself a list item (they belong to
///   the enclosing list), or before a list's first item when that is a collection (they belong
///   to that collection);
/// - after the last entry or item when that is a collection (go-yaml gives them to the inner
///   collection or to the enclosing level);
/// - right after a string written as a `|+` block: its trailing blank lines are content, and a
///   comment after a blank line belongs elsewhere for go-yaml.
fn representable_map(m: &mut Map, list_item: bool) {
    let entries = m.0.iter().filter(|i| matches!(i, Item::Entry(..))).count();
    let last_is_scalar = matches!(
        m.0.iter().rev().find_map(|i| match i {
            Item::Entry(_, v) => Some(v),
            _ => None,
        }),
        Some(Node::Scalar(_))
    );
    let mut seen = 0;
    let mut after_keep = false;
    m.0.retain(|i| match i {
        Item::Entry(_, v) => {
            seen += 1;
            after_keep = is_keep_block(v);
            true
        }
        Item::Comment(_) => {
            let misplaced =
                after_keep || (seen == 0 && list_item) || (seen == entries && !last_is_scalar);
            entries > 0 && !misplaced
        }
    });
    for item in &mut m.0 {
        if let Item::Entry(_, v) = item {
            representable_node(v, false);
        }
    }
}

/// A multi-line string ending in two line breaks: written as a `|+` block.
fn is_keep_block(n: &Node) -> bool {
    let Some(s) = n.as_str() else { return false };
    let breaks: Vec<char> = s.chars().rev().take(2).collect();
    s.contains('\n')
        && breaks.len() == 2
        && breaks.iter().all(|c| matches!(c, '\n' | '\u{2028}' | '\u{2029}'))
}

fn representable_node(n: &mut Node, list_item: bool) {
    match n {
        Node::Map(m) => representable_map(m, list_item),
        Node::List(items) => {
            let values = items.iter().filter(|i| !matches!(i, Node::Comment(_))).count();
            let first_is_scalar = matches!(
                items.iter().find(|i| !matches!(i, Node::Comment(_))),
                Some(Node::Scalar(_))
            );
            let last_is_scalar = matches!(
                items.iter().rev().find(|i| !matches!(i, Node::Comment(_))),
                Some(Node::Scalar(_))
            );
            let mut seen = 0;
            let mut after_keep = false;
            items.retain(|i| match i {
                Node::Comment(_) => {
                    let misplaced = after_keep
                        || (seen == 0 && (list_item || !first_is_scalar))
                        || (seen == values && !last_is_scalar);
                    values > 0 && !misplaced
                }
                other => {
                    seen += 1;
                    after_keep = is_keep_block(other);
                    true
                }
            });
            for i in items.iter_mut() {
                representable_node(i, true);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn emitted_trees_parse_back_unchanged(docs in prop::collection::vec(document(), 1..3)) {
        let text = emit(&docs);
        let back = parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &docs, "emitted:\n{}", text);
        prop_assert_eq!(emit(&back), text);
    }

    #[test]
    fn single_values_emit_as_their_own_documents(n in node()) {
        // A document: never empty (a raw LS/PS line break may end it rather than `\n`).
        prop_assert!(!emit_value(&n).is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(docs) = parse(&bytes) {
            let _ = emit(&docs);
        }
    }

    #[test]
    fn yaml_like_noise_never_panics(pieces in prop::collection::vec(prop::sample::select(NOISE), 0..60)) {
        let text = pieces.concat();
        if let Ok(docs) = parse(text.as_bytes()) {
            let out = emit(&docs);
            // What we write we can read, unless go-yaml itself could not (a `<<` key or a
            // `null` key that sops would also fail on).
            if let Err(e) = parse(out.as_bytes()) {
                prop_assert!(
                    e.message.contains("merge") || e.message.contains("not a string"),
                    "{e}\ninput:\n{text}\noutput:\n{out}"
                );
            }
        }
    }
}

/// Fragments of YAML syntax for the noise test.
const NOISE: &[&str] = &[
    "a",
    "b",
    "k",
    ":",
    ": ",
    " ",
    "  ",
    "    ",
    "\n",
    "\r\n",
    "\t",
    "- ",
    "-",
    "? ",
    "#",
    "# c",
    " # c",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&x ",
    "*x",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!x ",
    "|",
    "|-",
    "|+",
    ">",
    ">2",
    "'",
    "''",
    "\"",
    "\\n",
    "\\",
    "---",
    "...",
    "%YAML 1.1",
    "%TAG !e! tag:e:",
    "~",
    "null",
    "1",
    "0x",
    "1e3",
    ".5",
    "<<",
    "é",
    "\u{feff}",
    "2024-01-02",
];
