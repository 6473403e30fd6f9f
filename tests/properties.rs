//! Property tests of the format engine as a whole: random trees encrypted, written, read back
//! and decrypted in every store that can hold them; tampering with the written file never
//! yields different plaintext; re-sealing keeps unchanged ciphertext; Shamir split/combine;
//! tree-path laws. Also the regression inputs the fuzz targets (tests/fuzz) found.
//!
//! Case counts are kept small so that the whole file runs in a few seconds in a debug build.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::Index;
use sealgate::format::cipher::{DataKey, EncValue};
use sealgate::format::file::{EncryptParams, FileError, Opened, SopsFile};
use sealgate::format::path::{Segment, TreePath};
use sealgate::format::rules::EncryptionRule;
use sealgate::format::store::{self, Format};
use sealgate::format::{Comment, Document, Item, Map, Node, Scalar, Timestamp};
use sealgate::keys::{self, AgeRecipient, GroupSpec, KeySpec, shamir};

/// The public test recipient of tests/fixtures/sops/keys.txt.
const RECIPIENT: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";

const FORMATS: [Format; 5] =
    [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary];

// ---------------------------------------------------------------------------------------------
// Generators

/// Keys: plain words, words that the generated rules match, and awkward text. Never a key
/// starting with `sops` (reserved for metadata: `sops`, dotenv's `sops_*`).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}",
        2 => prop::sample::select(vec![
            "password", "pass_enc", "x_unencrypted", "data", "b_u", "db", "stringData", "a.b",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "", " ", "key with spaces", "ü", "日本", "a:b", "#", "-", "null", "true", "1",
            "~", "'q'", "\"dq\"", "k=v", "[x]", "tab\there", "ENC[x]",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{1,8}".prop_filter("not reserved", |k: &String| !k.starts_with("sops")),
    ]
}

/// Text values, from tame to nasty.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 ]{0,12}",
        2 => prop::sample::select(vec![
            "", " ", "  leading", "trailing  ", "null", "~", "true", "no", "0x1F", "1e3", "-",
            "- item", "key: value", "#not comment", " # x", "'", "\"", "\\", "\\n", "a\nb",
            "line\r\nbreak", "\t", "ENC[AES256_GCM,data:x]", "{}", "[]", "&a", "*a", "!tag",
            "%", "@", "`", "|", ">", "---", "...", "=", "a=b", "2024-01-02T03:04:05Z",
            "\u{feff}bom", "\u{85}nel", "\u{2028}ls", "ünïcödé ✓ 🎉", "\u{0}nul",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,16}",
        1 => any::<String>(),
    ]
}

/// Comment text (what follows `#`): what a file can hold in a comment, so no line break and
/// no control character but tab (YAML's printable set).
fn comment() -> impl Strategy<Value = Comment> {
    prop_oneof![
        2 => prop::sample::select(vec![
            " a comment", "", " sops:enc", " keep clear", "#", " ünï ✓", "no space", "  two",
            "\ttab", " trailing ",
        ])
        .prop_map(Comment::new),
        1 => "[^\\p{Cc}\u{2028}\u{2029}\u{fffe}\u{ffff}]{0,12}".prop_map(Comment::new),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (1970i64..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60, 0u32..1_000_000_000)
        .prop_flat_map(|(y, mo, d, h, mi, s, n)| {
            (Just((y, mo, d, h, mi, s)), prop_oneof![Just(0u32), Just(n), Just(n / 1000 * 1000)])
        })
        .prop_flat_map(|(date, nanos)| {
            (Just(date), Just(nanos), prop_oneof![Just(0i32), (-14i32 * 4..=14 * 4)])
        })
        .prop_filter_map("a valid civil time", |((y, mo, d, h, mi, s), nanos, quarter)| {
            Timestamp::from_civil((y, mo, d), (h, mi, s), nanos, quarter * 15 * 60)
        })
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        1 => Just(Scalar::Null),
        1 => any::<bool>().prop_map(Scalar::Bool),
        2 => prop_oneof![any::<i64>(), -1000i64..1000].prop_map(Scalar::Int),
        2 => prop_oneof![
            prop::sample::select(vec![
                0.0, -0.0, 0.5, 1.0, -1.5, 1e20, 1e-7, 6.02e23, f64::MAX, f64::MIN_POSITIVE,
                f64::INFINITY, f64::NEG_INFINITY, f64::NAN,
            ]),
            prop::num::f64::NORMAL | prop::num::f64::ZERO,
        ]
        .prop_map(Scalar::Float),
        5 => text().prop_map(Scalar::str),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Scalar::bytes),
        1 => timestamp().prop_map(Scalar::Time),
    ]
}

/// A map with unique keys and comments among its entries.
fn map_of(inner: BoxedStrategy<Node>, max: usize) -> BoxedStrategy<Map> {
    prop::collection::vec(
        prop_oneof![4 => (key(), inner).prop_map(|(k, v)| Some((k, v))), 1 => Just(None)]
            .prop_flat_map(|entry| (Just(entry), comment())),
        0..max,
    )
    .prop_map(|items| {
        let mut seen = std::collections::HashSet::new();
        let mut map = Map::new();
        for (entry, c) in items {
            match entry {
                Some((k, v)) => {
                    if seen.insert(k.clone()) {
                        map.push(k, v);
                    }
                }
                None => map.0.push(Item::Comment(c)),
            }
        }
        map
    })
    .boxed()
}

fn node() -> BoxedStrategy<Node> {
    let leaf = scalar().prop_map(Node::Scalar);
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            map_of(inner.clone(), 4).prop_map(Node::Map),
            prop::collection::vec(
                prop_oneof![4 => inner, 1 => comment().prop_map(Node::Comment)],
                0..4
            )
            .prop_map(Node::List),
        ]
    })
    .boxed()
}

/// One document, or (sometimes) two: only YAML keeps more than one.
fn documents() -> impl Strategy<Value = Vec<Document>> {
    prop_oneof![
        4 => map_of(node(), 6).prop_map(|d| vec![d]),
        1 => prop::collection::vec(map_of(node(), 4), 2..=3),
    ]
}

/// A flat document of strings (what dotenv and INI sections hold), or a binary file's
/// `{data: bytes}`, so that those stores get trees they can write.
fn flat_documents() -> impl Strategy<Value = Vec<Document>> {
    let string = || text().prop_map(Node::str).boxed();
    let blob = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Scalar::bytes),
        text().prop_map(Scalar::str),
    ];
    prop_oneof![
        2 => map_of(string(), 6).prop_map(|d| vec![d]),
        2 => map_of(map_of(string(), 4).prop_map(Node::Map).boxed(), 4).prop_map(|d| vec![d]),
        1 => blob.prop_map(|b| vec![Map(vec![Item::Entry("data".to_owned(), Node::Scalar(b))])]),
    ]
}

/// Each of the six rules with a suffix or regex that the generated keys and comments sometimes
/// match, or none. Comment regexes never match an `ENC[...]` string (they need a space).
fn rule() -> impl Strategy<Value = EncryptionRule> {
    let suffix = prop::sample::select(vec!["_unencrypted", "_u", "_enc", "word", "a", ""]);
    let regex =
        prop::sample::select(vec!["^pass", "^(data|stringData)$", "a", "^$", "[ :#]", ".", ""]);
    let comment_regex = prop::sample::select(vec![" sops:enc", " keep", "^ a ", " "]);
    prop_oneof![
        2 => Just(EncryptionRule::None),
        1 => suffix.clone().prop_map(|s| EncryptionRule::UnencryptedSuffix(s.to_owned())),
        1 => suffix.prop_map(|s| EncryptionRule::EncryptedSuffix(s.to_owned())),
        1 => regex.clone().prop_map(|r| rule_from("unencrypted_regex", r)),
        1 => regex.prop_map(|r| rule_from("encrypted_regex", r)),
        1 => comment_regex.clone().prop_map(|r| rule_from("unencrypted_comment_regex", r)),
        1 => comment_regex.prop_map(|r| rule_from("encrypted_comment_regex", r)),
    ]
}

/// The formats that hold key paths and comments (binary holds one value).
fn text_formats() -> impl Strategy<Value = Format> {
    prop::sample::select(vec![Format::Yaml, Format::Json, Format::Dotenv, Format::Ini])
}

fn rule_from(field: &str, pattern: &str) -> EncryptionRule {
    EncryptionRule::from_field(field, pattern).expect("the generated regexes compile")
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn now() -> Timestamp {
    Timestamp::from_civil((2025, 1, 2), (3, 4, 5), 0, 0).expect("valid time")
}

fn params(key: &DataKey, rule: EncryptionRule, mac_only_encrypted: bool) -> EncryptParams {
    let recipient = AgeRecipient::parse(RECIPIENT).expect("test recipient");
    let groups = [GroupSpec(vec![KeySpec::Age(recipient)])];
    let (key_groups, shamir_threshold) =
        keys::wrap_data_key(key, &groups, 0, None, now()).expect("wrap for an age recipient");
    EncryptParams { rule, mac_only_encrypted, key_groups, shamir_threshold }
}

/// The documents as `format` reads back what it writes for them: the format's own
/// normalisation (JSON numbers become floats, dotenv and INI values become strings, comments
/// are dropped where the format has none, stores that write one document drop the others).
/// Repeated until stable: INI re-spaces a comment line that starts with `#` only on the second
/// pass, as go-ini does. `None` when the format cannot write the documents.
fn as_format_reads(format: Format, docs: &[Document]) -> Option<Vec<Document>> {
    let mut current = docs.to_vec();
    for _ in 0..4 {
        let bytes = store::emit_plain(format, &current).ok()?;
        let read = store::parse_plain(format, &bytes).ok()?;
        if same_docs(&read, &current) {
            return Some(read);
        }
        current = read;
    }
    panic!("{format}: the plain round trip does not settle: {}", dump(&current))
}

/// Tree equality that treats NaN as equal to NaN and tells 0.0 from -0.0 (what the canonical
/// bytes, and so the MAC, do).
fn same_map(a: &Map, b: &Map) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|pair| match pair {
            (Item::Entry(ka, va), Item::Entry(kb, vb)) => ka == kb && same_node(va, vb),
            (Item::Comment(ca), Item::Comment(cb)) => ca == cb,
            _ => false,
        })
}

fn same_node(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Map(x), Node::Map(y)) => same_map(x, y),
        (Node::List(x), Node::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_node(p, q))
        }
        (Node::Scalar(Scalar::Float(x)), Node::Scalar(Scalar::Float(y))) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Node::Scalar(x), Node::Scalar(y)) => x == y,
        (Node::Comment(x), Node::Comment(y)) => x == y,
        _ => false,
    }
}

/// The documents written out in full for failure messages (test data only: the library's own
/// `Debug` redacts values).
fn dump(docs: &[Document]) -> String {
    fn node(n: &Node, out: &mut String) {
        match n {
            Node::Map(m) => map(m, out),
            Node::List(items) => {
                out.push('[');
                for i in items {
                    node(i, out);
                    out.push_str(", ");
                }
                out.push(']');
            }
            Node::Comment(c) => out.push_str(&format!("#{:?}", c.text())),
            Node::Scalar(s) => out.push_str(&format!(
                "{}({:?})",
                s.value_type().map_or("null", |t| t.as_str()),
                String::from_utf8_lossy(&s.canonical_bytes())
            )),
        }
    }
    fn map(m: &Map, out: &mut String) {
        out.push('{');
        for item in &m.0 {
            match item {
                Item::Entry(k, v) => {
                    out.push_str(&format!("{k:?}: "));
                    node(v, out);
                }
                Item::Comment(c) => out.push_str(&format!("#{:?}", c.text())),
            }
            out.push_str(", ");
        }
        out.push('}');
    }
    let mut out = String::new();
    for d in docs {
        map(d, &mut out);
        out.push('\n');
    }
    out
}

fn same_docs(a: &[Document], b: &[Document]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_map(x, y))
}

/// The text of every comment in document order.
fn comment_texts(docs: &[Document]) -> Vec<String> {
    fn node(n: &Node, out: &mut Vec<String>) {
        match n {
            Node::Comment(c) => out.push(c.text().to_owned()),
            Node::Map(m) => map(m, out),
            Node::List(items) => items.iter().for_each(|i| node(i, out)),
            Node::Scalar(_) => {}
        }
    }
    fn map(m: &Map, out: &mut Vec<String>) {
        for item in &m.0 {
            match item {
                Item::Entry(_, v) => node(v, out),
                Item::Comment(c) => out.push(c.text().to_owned()),
            }
        }
    }
    let mut out = Vec::new();
    docs.iter().for_each(|d| map(d, &mut out));
    out
}

/// The documents without any comment.
fn without_comments(docs: &[Document]) -> Vec<Document> {
    fn node(n: &Node) -> Option<Node> {
        Some(match n {
            Node::Comment(_) => return None,
            Node::Map(m) => Node::Map(map(m)),
            Node::List(items) => Node::List(items.iter().filter_map(node).collect()),
            Node::Scalar(s) => Node::Scalar(s.clone()),
        })
    }
    fn map(m: &Map) -> Map {
        Map(m
            .0
            .iter()
            .filter_map(|i| match i {
                Item::Entry(k, v) => node(v).map(|v| Item::Entry(k.clone(), v)),
                Item::Comment(_) => None,
            })
            .collect())
    }
    docs.iter().map(map).collect()
}

/// Every non-null value with its full path (map keys and list positions, comments not
/// counted), sorted: what must survive any tampering that decryption accepts. Map order and
/// comments are outside the MAC, as in sops.
fn value_set(docs: &[Document]) -> Vec<(String, Vec<u8>)> {
    fn walk(node: &Node, path: &mut String, out: &mut Vec<(String, Vec<u8>)>) {
        match node {
            Node::Map(m) => walk_map(m, path, out),
            Node::List(items) => {
                // Positions count comment items too, as sops's indices do; a comment itself
                // is not a value to address.
                for (i, item) in
                    items.iter().enumerate().filter(|(_, n)| !matches!(n, Node::Comment(_)))
                {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path, out);
                    path.truncate(len);
                }
            }
            Node::Comment(_) | Node::Scalar(Scalar::Null) => {}
            Node::Scalar(s) => {
                let ty = s.value_type().map_or("", |t| t.as_str());
                out.push((format!("{path}:{ty}"), s.canonical_bytes().to_vec()));
            }
        }
    }
    fn walk_map(map: &Map, path: &mut String, out: &mut Vec<(String, Vec<u8>)>) {
        for (k, v) in map.entries() {
            let len = path.len();
            path.push_str(&format!("[{k:?}]"));
            walk(v, path, out);
            path.truncate(len);
        }
    }
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let mut path = format!("doc{i}");
        walk_map(doc, &mut path, &mut out);
    }
    out.sort();
    out
}

/// Where a thing sits in a document: positions in `Map.0` and list vectors, outermost first.
type Loc = (usize, Vec<usize>);

/// An `ENC[...]` value of an encrypted tree (not a comment), with its AAD path.
struct EncSlot {
    loc: Loc,
    aad: String,
    text: String,
}

/// Every encrypted value (type other than `comment`) in walk order.
fn enc_values(docs: &[Document]) -> Vec<EncSlot> {
    fn walk(node: &Node, loc: &mut Loc, aad: &mut String, out: &mut Vec<EncSlot>) {
        match node {
            Node::Map(m) => walk_map(m, loc, aad, out),
            Node::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    loc.1.push(i);
                    walk(item, loc, aad, out);
                    loc.1.pop();
                }
            }
            Node::Scalar(s) => {
                if let Some(text) = s.as_str()
                    && let Ok(v) = EncValue::parse(text)
                    && v.type_tag != "comment"
                {
                    out.push(EncSlot { loc: loc.clone(), aad: aad.clone(), text: text.to_owned() });
                }
            }
            Node::Comment(_) => {}
        }
    }
    fn walk_map(map: &Map, loc: &mut Loc, aad: &mut String, out: &mut Vec<EncSlot>) {
        for (i, item) in map.0.iter().enumerate() {
            if let Item::Entry(k, v) = item {
                let len = aad.len();
                aad.push_str(k);
                aad.push(':');
                loc.1.push(i);
                walk(v, loc, aad, out);
                loc.1.pop();
                aad.truncate(len);
            }
        }
    }
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        walk_map(doc, &mut (d, Vec::new()), &mut String::new(), &mut out);
    }
    out
}

/// Every `ENC[...]` string of a tree (values and comments, in maps and lists) by location.
fn all_enc_strings(docs: &[Document]) -> Vec<(Loc, String)> {
    fn walk(node: &Node, loc: &mut Loc, out: &mut Vec<(Loc, String)>) {
        match node {
            Node::Map(m) => walk_map(m, loc, out),
            Node::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    loc.1.push(i);
                    walk(item, loc, out);
                    loc.1.pop();
                }
            }
            Node::Scalar(s) => {
                if let Some(t) = s.as_str().filter(|t| EncValue::is_encrypted(t)) {
                    out.push((loc.clone(), t.to_owned()));
                }
            }
            Node::Comment(c) => {
                if EncValue::is_encrypted(c.text()) {
                    out.push((loc.clone(), c.text().to_owned()));
                }
            }
        }
    }
    fn walk_map(map: &Map, loc: &mut Loc, out: &mut Vec<(Loc, String)>) {
        for (i, item) in map.0.iter().enumerate() {
            loc.1.push(i);
            match item {
                Item::Entry(_, v) => walk(v, loc, out),
                Item::Comment(c) => {
                    if EncValue::is_encrypted(c.text()) {
                        out.push((loc.clone(), c.text().to_owned()));
                    }
                }
            }
            loc.1.pop();
        }
    }
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        walk_map(doc, &mut (d, Vec::new()), &mut out);
    }
    out
}

/// The node at a location that ends on a map entry's value or a list item.
fn node_at_mut<'a>(docs: &'a mut [Document], loc: &Loc) -> &'a mut Node {
    let (first, rest) = loc.1.split_first().expect("a location inside a document");
    let Item::Entry(_, node) = &mut docs[loc.0].0[*first] else {
        panic!("the location names an entry")
    };
    let mut node: &mut Node = node;
    for &i in rest {
        node = match node {
            Node::Map(m) => match &mut m.0[i] {
                Item::Entry(_, v) => v,
                Item::Comment(_) => panic!("the location names an entry"),
            },
            Node::List(items) => &mut items[i],
            _ => panic!("the location goes through containers"),
        };
    }
    node
}

/// Removes the map entry or list item at a location.
fn remove_at(docs: &mut [Document], loc: &Loc) {
    let (last, parent) = loc.1.split_last().expect("a location inside a document");
    if parent.is_empty() {
        docs[loc.0].0.remove(*last);
        return;
    }
    match node_at_mut(docs, &(loc.0, parent.to_vec())) {
        Node::Map(m) => {
            m.0.remove(*last);
        }
        Node::List(items) => {
            items.remove(*last);
        }
        _ => panic!("the parent of a location is a container"),
    }
}

/// The map holding the entry at `loc`, if the entry is in a map.
fn parent_map_mut<'a>(docs: &'a mut [Document], loc: &Loc) -> Option<(&'a mut Map, usize)> {
    let (last, parent) = loc.1.split_last()?;
    if parent.is_empty() {
        return Some((&mut docs[loc.0], *last));
    }
    match node_at_mut(docs, &(loc.0, parent.to_vec())) {
        Node::Map(m) => Some((m, *last)),
        _ => None,
    }
}

/// Encrypts `docs` for `format` and writes the file.
fn encrypt_and_write(
    format: Format,
    docs: Vec<Document>,
    key: &DataKey,
    rule: EncryptionRule,
    mac_only_encrypted: bool,
) -> (SopsFile, Vec<u8>) {
    let file =
        SopsFile::encrypt(format, docs, key, params(key, rule, mac_only_encrypted), None, now())
            .unwrap_or_else(|e| panic!("{format}: encryption failed: {e}"));
    let bytes = file.emit().unwrap_or_else(|e| panic!("{format}: writing failed: {e}"));
    (file, bytes)
}

/// Reads a written file and decrypts it, MAC included.
fn read_and_decrypt(format: Format, bytes: &[u8], key: &DataKey) -> Result<Opened, FileError> {
    SopsFile::parse(format, bytes)?.decrypt(key, false)
}

/// The outcome of decrypting something tampered with is acceptable: an error, or (only where
/// sops does not authenticate: comments, map order) the very same values.
fn tamper_outcome_is_safe(plain: &[Document], outcome: &Result<Opened, FileError>) -> bool {
    match outcome {
        Err(_) => true,
        Ok(opened) => value_set(&opened.docs) == value_set(plain),
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

/// A file written by [`round_trip`]: the plaintext the format holds, the file, its data key.
type Written = (Vec<Document>, Vec<u8>, DataKey);

/// The full round trip for one format; returns the plaintext the format holds (or `None`
/// when the format cannot hold these documents) and the written file.
fn round_trip(
    format: Format,
    docs: &[Document],
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
) -> Result<Option<Written>, TestCaseError> {
    let Some(plain) = as_format_reads(format, docs) else { return Ok(None) };
    // sops ignores rules for binary files (their one value is always encrypted), and so does
    // `sealgate encrypt`; a clear `data` could not even hold non-UTF-8 bytes in the JSON form.
    let rule = if format == Format::Binary { &EncryptionRule::None } else { rule };
    let key = DataKey::generate();
    let (file, bytes) =
        encrypt_and_write(format, plain.clone(), &key, rule.clone(), mac_only_encrypted);
    prop_assert!(file.metadata.mac.is_some(), "{format}: the file has a MAC");
    let opened = read_and_decrypt(format, &bytes, &key).map_err(|e| {
        TestCaseError::fail(format!(
            "{format}: the written file does not decrypt: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ))
    })?;
    // sops's YAML quirk (sops 3.11 does the same): a comment closing a nested map or list,
    // followed by a key further out (the `sops` entry always is), is read back into the
    // deepest map or list. It keeps its place in the text, but an encrypted one changes AAD
    // and so stays as written (with a warning, or silently when it lands where the rule keeps
    // comments clear). Values are never affected.
    let same = if format == Format::Yaml {
        let (got, want) = (comment_texts(&opened.docs), comment_texts(&plain));
        same_docs(&without_comments(&opened.docs), &without_comments(&plain))
            && got.len() == want.len()
            && got.iter().zip(&want).all(|(g, w)| g == w || EncValue::parse(g).is_ok())
    } else {
        same_docs(&opened.docs, &plain)
    };
    prop_assert!(
        same,
        "{format}: decrypt(parse(emit(encrypt(x)))) != x\nfile:\n{}\ngot:  {}\nwant: {}",
        String::from_utf8_lossy(&bytes),
        dump(&opened.docs),
        dump(&plain)
    );
    Ok(Some((plain, bytes, key)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    /// Random trees in every store that can hold them come back from encrypt → emit → parse →
    /// decrypt as the store reads them, and the MAC verifies.
    #[test]
    fn encrypted_round_trip_in_every_store(
        docs in documents(),
        rule in rule(),
        mac_only in any::<bool>(),
    ) {
        for format in FORMATS {
            round_trip(format, &docs, &rule, mac_only)?;
        }
    }

    /// The same for flat string trees, which dotenv and INI can hold, and binary files.
    #[test]
    fn encrypted_round_trip_of_flat_trees(
        docs in flat_documents(),
        rule in rule(),
        mac_only in any::<bool>(),
    ) {
        for format in FORMATS {
            round_trip(format, &docs, &rule, mac_only)?;
        }
    }

    /// Changing any single byte inside any `ENC[...]` of a written file (values, comments, the
    /// MAC) never gives different plaintext: decryption fails, or (for a comment, which sops
    /// does not authenticate) keeps the comment as written and every value as it was.
    #[test]
    fn flipping_a_byte_inside_enc_never_yields_other_plaintext(
        docs in prop_oneof![documents(), flat_documents()],
        format in prop::sample::select(FORMATS.to_vec()),
        rule in rule(),
        mac_only in any::<bool>(),
        which in any::<Index>(),
        offset in any::<Index>(),
        replacement in prop::sample::select(
            b"ABCXYZabcxyz0189+/=,:[]_".to_vec()
        ),
    ) {
        let Some((plain, bytes, key)) = round_trip(format, &docs, &rule, mac_only)? else {
            return Ok(());
        };
        let spans = enc_spans(&bytes);
        prop_assert!(!spans.is_empty(), "the MAC at least is an ENC[...] value");
        let (start, end) = spans[which.index(spans.len())];
        let at = start + offset.index(end - start);
        prop_assume!(bytes[at] != replacement);
        let mut tampered = bytes.clone();
        tampered[at] = replacement;
        let outcome = read_and_decrypt(format, &tampered, &key);
        prop_assert!(
            tamper_outcome_is_safe(&plain, &outcome),
            "{format}: a flipped byte at {at} gave other plaintext\n{}",
            String::from_utf8_lossy(&tampered)
        );
        if let Ok(opened) = &outcome {
            // Accepted silently only when the byte is one sops never reads: the `type` of an
            // encrypted comment, or the copy of the metadata in a later YAML document.
            let read = |b: &[u8]| SopsFile::parse(format, b).ok();
            let ignored = match (read(&bytes), read(&tampered)) {
                (Some(x), Some(y)) => x.metadata == y.metadata && same_docs(&x.docs, &y.docs),
                _ => false,
            };
            let comment_type = tampered_only_type_of_comment(&bytes, at);
            prop_assert!(!opened.warnings.is_empty() || ignored || comment_type,
                "{format}: a flipped byte at {at} was accepted without a warning\n{}",
                String::from_utf8_lossy(&tampered));
        }
    }

    /// Removing an encrypted value, swapping two, or moving one within its map makes
    /// decryption fail, unless the values the MAC sees are exactly the same as before.
    #[test]
    fn removing_swapping_or_moving_encrypted_values_fails(
        docs in documents(),
        format in text_formats(),
        rule in rule(),
        mac_only in any::<bool>(),
        a in any::<Index>(),
        b in any::<Index>(),
        to in any::<Index>(),
    ) {
        let Some((plain, bytes, key)) = round_trip(format, &docs, &rule, mac_only)? else {
            return Ok(());
        };
        let file = SopsFile::parse(format, &bytes).expect("the written file parses");
        let slots = enc_values(&file.docs);
        if slots.is_empty() {
            return Ok(()); // the rule left everything clear: nothing to tamper with
        }
        let (sa, sb) = (&slots[a.index(slots.len())], &slots[b.index(slots.len())]);

        // Removed: always fails (the MAC sees one value fewer).
        let mut removed = file.clone();
        remove_at(&mut removed.docs, &sa.loc);
        prop_assert!(removed.decrypt(&key, false).is_err(), "{format}: a removal went unnoticed");

        // Swapped: fails unless both were the same plaintext at the same AAD.
        let mut swapped = file.clone();
        *node_at_mut(&mut swapped.docs, &sa.loc) = Node::str(sb.text.clone());
        *node_at_mut(&mut swapped.docs, &sb.loc) = Node::str(sa.text.clone());
        let outcome = swapped.decrypt(&key, false);
        prop_assert!(tamper_outcome_is_safe(&plain, &outcome), "{format}: a swap changed text");
        if sa.aad != sb.aad {
            prop_assert!(outcome.is_err(), "{format}: values swapped across paths decrypted");
        }

        // Moved within its map: fails unless the MAC sequence is unchanged.
        let mut moved = file.clone();
        if let Some((map, pos)) = parent_map_mut(&mut moved.docs, &sa.loc) {
            let item = map.0.remove(pos);
            let target = to.index(map.0.len() + 1);
            map.0.insert(target, item);
            let outcome = moved.decrypt(&key, false);
            prop_assert!(tamper_outcome_is_safe(&plain, &outcome), "{format}: a move changed text");
        }
    }

    /// Re-sealing with the IVs gathered at decryption keeps the ciphertext of every value and
    /// comment that did not change (those that occur twice at one AAD share one IV, so they
    /// keep one of their ciphertexts), and the edited value decrypts to its new text.
    #[test]
    fn reseal_keeps_unchanged_ciphertext(
        docs in documents(),
        format in text_formats(),
        rule in rule(),
        mac_only in any::<bool>(),
        edit in prop::option::of((any::<Index>(), text())),
    ) {
        let Some((_plain, bytes, key)) = round_trip(format, &docs, &rule, mac_only)? else {
            return Ok(());
        };
        let file = SopsFile::parse(format, &bytes).expect("the written file parses");
        let mut opened = file.decrypt(&key, false).expect("it decrypts");
        let slots = enc_values(&file.docs);
        let edited_loc = match (&edit, slots.is_empty()) {
            (Some((i, new_text)), false) => {
                let loc = slots[i.index(slots.len())].loc.clone();
                *node_at_mut(&mut opened.docs, &loc) = Node::str(format!("{new_text}~edited"));
                Some(loc)
            }
            _ => None,
        };
        let expected = opened.docs.clone();
        let resealed = file.reseal(opened, &key, now()).expect("reseal");

        let before = all_enc_strings(&file.docs);
        let after: HashMap<Loc, String> = all_enc_strings(&resealed.docs).into_iter().collect();
        let mut by_slot: HashMap<(String, Vec<u8>), Vec<&str>> = HashMap::new();
        let plaintexts = plaintext_by_loc(&file, &key);
        for (loc, text) in &before {
            if let Some(p) = plaintexts.get(loc) {
                by_slot.entry(p.clone()).or_default().push(text);
            }
        }
        for (loc, text) in &before {
            if Some(loc) == edited_loc.as_ref() {
                prop_assert_ne!(after.get(loc), Some(text), "the edited value has new ciphertext");
                continue;
            }
            let now_text =
                after.get(loc).ok_or_else(|| TestCaseError::fail("an ENC value vanished"))?;
            // A comment that did not decrypt where it now sits (the YAML quirk above) is text
            // to the engine and gets encrypted again, as sops does on every edit.
            let Some(slot) = plaintexts.get(loc) else { continue };
            let allowed = by_slot.get(slot);
            prop_assert!(
                now_text == text || allowed.is_some_and(|texts| texts.contains(&now_text.as_str())),
                "{format}: unchanged value at {loc:?} got new ciphertext"
            );
        }
        let reopened = resealed.decrypt(&key, false).expect("the resealed file decrypts");
        prop_assert!(same_docs(&reopened.docs, &expected));
    }
}

/// Byte ranges of every well-formed `ENC[AES256_GCM,…]` in a written file (a clear value that
/// merely starts like one is not encrypted, so it is no ciphertext to tamper with).
fn enc_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let needle = b"ENC[AES256_GCM,";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = bytes[from..].windows(needle.len()).position(|w| w == needle) {
        let start = from + pos;
        let end =
            bytes[start..].iter().position(|&b| b == b']').map_or(bytes.len(), |e| start + e + 1);
        if std::str::from_utf8(&bytes[start..end]).is_ok_and(|t| EncValue::parse(t).is_ok()) {
            out.push((start, end));
        }
        from = end;
    }
    out
}

/// True when byte `at` lies in the `type:comment` tag of an encrypted comment, which sops
/// never checks (comments decrypt whatever their tag says).
fn tampered_only_type_of_comment(bytes: &[u8], at: usize) -> bool {
    enc_spans(bytes).into_iter().any(|(start, end)| {
        let span = &bytes[start..end];
        span.ends_with(b",type:comment]") && at >= end - b"comment]".len()
    })
}

/// The (AAD, plaintext) of every `ENC[...]` string of a file, by location: the IV-reuse slot.
fn plaintext_by_loc(file: &SopsFile, key: &DataKey) -> HashMap<Loc, (String, Vec<u8>)> {
    let mut out = HashMap::new();
    let locs: HashMap<Loc, String> = enc_aads(&file.docs).into_iter().collect();
    for (loc, text) in all_enc_strings(&file.docs) {
        let (Some(aad), Ok(v)) = (locs.get(&loc), EncValue::parse(&text)) else { continue };
        let aad_bytes = if aad.is_empty() { ":".as_bytes() } else { aad.as_bytes() };
        if let Ok(p) = sealgate::format::cipher::decrypt(key, &v, aad_bytes) {
            let mut slot = p.to_vec();
            slot.extend_from_slice(v.type_tag.as_bytes());
            out.insert(loc, (aad.clone(), slot));
        }
    }
    out
}

/// The AAD path of every location in a tree (entries, list items and comments).
fn enc_aads(docs: &[Document]) -> Vec<(Loc, String)> {
    fn walk(node: &Node, loc: &mut Loc, aad: &mut String, out: &mut Vec<(Loc, String)>) {
        out.push((loc.clone(), aad.clone()));
        match node {
            Node::Map(m) => walk_map(m, loc, aad, out),
            Node::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    loc.1.push(i);
                    walk(item, loc, aad, out);
                    loc.1.pop();
                }
            }
            _ => {}
        }
    }
    fn walk_map(map: &Map, loc: &mut Loc, aad: &mut String, out: &mut Vec<(Loc, String)>) {
        for (i, item) in map.0.iter().enumerate() {
            loc.1.push(i);
            match item {
                Item::Entry(k, v) => {
                    let len = aad.len();
                    aad.push_str(k);
                    aad.push(':');
                    walk(v, loc, aad, out);
                    aad.truncate(len);
                }
                Item::Comment(_) => out.push((loc.clone(), aad.clone())),
            }
            loc.1.pop();
        }
    }
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        walk_map(doc, &mut (d, Vec::new()), &mut String::new(), &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Shamir

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any `threshold` of the shares, in any order, give the secret back; fewer give something
    /// else (the secret is at least 16 bytes, so a chance match is out of the question).
    #[test]
    fn shamir_any_threshold_shares_recover_the_secret(
        secret in prop::collection::vec(any::<u8>(), 16..48),
        parts in 2usize..12,
        threshold_pick in any::<Index>(),
        shuffle_seed in any::<u64>(),
        extra in any::<Index>(),
    ) {
        let threshold = 2 + threshold_pick.index(parts - 1);
        let shares = shamir::split(&secret, parts, threshold).expect("valid split");
        prop_assert_eq!(shares.len(), parts);
        prop_assert!(shares.iter().all(|s| s.len() == secret.len() + 1));

        let mut order: Vec<usize> = (0..parts).collect();
        shuffle(&mut order, shuffle_seed);
        let take = threshold + extra.index(parts - threshold + 1);
        let chosen: Vec<&[u8]> = order[..take].iter().map(|&i| shares[i].as_slice()).collect();
        prop_assert_eq!(&shamir::combine(&chosen).expect("combine")[..], &secret[..]);

        if threshold > 2 {
            let too_few: Vec<&[u8]> =
                order[..threshold - 1].iter().map(|&i| shares[i].as_slice()).collect();
            prop_assert_ne!(&shamir::combine(&too_few).expect("combine")[..], &secret[..]);
        }
    }

    /// Invalid splits and malformed share sets are errors, never panics.
    #[test]
    fn shamir_rejects_bad_parameters_and_shares(
        parts in 0usize..300,
        threshold in 0usize..300,
        shares in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4), 0..5),
    ) {
        let ok = shamir::split(b"secret", parts, threshold).is_ok();
        prop_assert_eq!(ok, parts <= 255 && threshold >= 2 && threshold <= parts);
        let _ = shamir::combine(&shares);
    }
}

/// A deterministic Fisher–Yates shuffle (xorshift), so that proptest can shrink the seed.
fn shuffle(items: &mut [usize], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

// ---------------------------------------------------------------------------------------------
// Tree paths

/// Paths that exist in a document: every map key and list position, outermost first.
fn existing_paths(doc: &Map) -> Vec<Vec<Segment>> {
    fn walk(node: &Node, path: &mut Vec<Segment>, out: &mut Vec<Vec<Segment>>) {
        match node {
            Node::Map(m) => walk_map(m, path, out),
            Node::List(items) => {
                // Positions count comment items too, as sops's indices do; a comment itself
                // is not a value to address.
                for (i, item) in
                    items.iter().enumerate().filter(|(_, n)| !matches!(n, Node::Comment(_)))
                {
                    path.push(Segment::Index(i));
                    out.push(path.clone());
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    fn walk_map(m: &Map, path: &mut Vec<Segment>, out: &mut Vec<Vec<Segment>>) {
        for (k, v) in m.entries() {
            path.push(Segment::Key(k.to_owned()));
            out.push(path.clone());
            walk(v, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk_map(doc, &mut Vec::new(), &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Set then get returns the value, at existing paths and at new key paths below them.
    #[test]
    fn tree_path_set_then_get_returns_the_value(
        doc in map_of(node(), 6),
        pick in any::<Index>(),
        tail in prop::collection::vec(key(), 0..3),
        value in node(),
    ) {
        let mut paths = existing_paths(&doc);
        paths.push(Vec::new());
        let mut segments = paths[pick.index(paths.len())].clone();
        segments.extend(tail.into_iter().map(Segment::Key));
        prop_assume!(!segments.is_empty());
        let path = TreePath(segments);
        let mut edited = doc.clone();
        let before = path.get(&doc).ok().cloned();
        let changed = path.set(&mut edited, value.clone()).expect("a path starting with a key");
        prop_assert!(same_node(path.get(&edited).expect("get after set"), &value));
        if let Some(before) = before {
            prop_assert_eq!(changed, before != value);
        } else {
            prop_assert!(changed);
        }
    }

    /// Unset then get fails for a key; for a list position the list is one item shorter and
    /// keeps the others in order. Setting a new key and unsetting it gives the document back.
    #[test]
    fn tree_path_unset_removes_exactly_the_value(
        doc in map_of(node(), 6),
        pick in any::<Index>(),
        fresh in "[A-Z]{1,4}",
        value in node(),
    ) {
        let paths = existing_paths(&doc);
        prop_assume!(!paths.is_empty());
        let segments = paths[pick.index(paths.len())].clone();
        let path = TreePath(segments.clone());
        let mut removed = doc.clone();
        path.unset(&mut removed).expect("unset an existing path");
        match segments.last() {
            Some(Segment::Key(_)) => prop_assert!(path.get(&removed).is_err()),
            Some(Segment::Index(i)) => {
                let parent = TreePath(segments[..segments.len() - 1].to_vec());
                // List indices count comment items too, as sops's do.
                let values = |n: &Node| match n {
                    Node::List(items) => items.clone(),
                    _ => Vec::new(),
                };
                let mut want = values(parent.get(&doc).expect("parent"));
                want.remove(*i);
                let got = values(parent.get(&removed).expect("parent"));
                let same = got.len() == want.len()
                    && got.iter().zip(&want).all(|(a, b)| same_node(a, b));
                prop_assert!(same, "unset removed more or less than one list item");
            }
            None => unreachable!("paths are never empty"),
        }

        // A fresh key (starting with NUL, which no generated key holds) set and unset again.
        let mut map_paths: Vec<Vec<Segment>> = vec![Vec::new()];
        map_paths.extend(paths.into_iter().filter(|p| {
            matches!(TreePath(p.clone()).get(&doc), Ok(Node::Map(_)))
        }));
        let mut segs = map_paths[pick.index(map_paths.len())].clone();
        segs.push(Segment::Key(format!("\0{fresh}")));
        let fresh_path = TreePath(segs);
        let mut round = doc.clone();
        prop_assert!(fresh_path.set(&mut round, value).expect("set"));
        fresh_path.unset(&mut round).expect("unset what was set");
        prop_assert!(same_map(&round, &doc));
    }

    /// A path written in the syntax parses back to the same path.
    #[test]
    fn tree_path_parse_reads_what_is_written(
        segments in prop::collection::vec(
            prop_oneof![
                "[^\"]{0,6}".prop_map(Segment::Key),
                (0usize..1000).prop_map(Segment::Index),
            ],
            1..5,
        )
    ) {
        prop_assume!(matches!(segments[0], Segment::Key(_)) || segments.len() > 1);
        let text: String = segments.iter().map(|s| match s {
            Segment::Key(k) => format!("[\"{k}\"]"),
            Segment::Index(i) => format!("[{i}]"),
        }).collect();
        prop_assert_eq!(TreePath::parse(&text).expect("parses"), TreePath(segments));
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs the fuzz targets and the properties above found (fixed in src/).

fn regression_fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/fuzz-regressions/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn fixture_key(file: &SopsFile) -> DataKey {
    let path = format!("{}/tests/fixtures/sops/keys.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("keys.txt");
    let keyring = sealgate::keys::Keyring::from_identity_text(&text, "keys.txt").expect("identity");
    keyring.unwrap_data_key(&file.metadata).expect("keys.txt unwraps the data key").0
}

/// sops 3.11 cannot decrypt this file it wrote itself (MAC mismatch); sealgate decrypts the
/// value that the encrypted list comment precedes, and the MAC verifies.
#[test]
fn decrypts_a_value_after_an_encrypted_list_comment_written_by_sops() {
    let bytes = regression_fixture("list-comment-before-value.enc.yaml");
    let file = SopsFile::parse(Format::Yaml, &bytes).expect("parses");
    let opened = file.decrypt(&fixture_key(&file), false).expect("decrypts, MAC included");
    let plain = regression_fixture("list-comment-before-value.yaml");
    let want = store::parse_plain(Format::Yaml, &plain).expect("plaintext input parses");
    assert!(same_docs(&opened.docs, &want), "got {}", dump(&opened.docs));
    assert!(opened.warnings.is_empty());
}

/// The `type` of an `ENC[...]` is not authenticated: a MAC whose tag was changed from `str`
/// must be refused, as sops refuses it ("Unknown datatype", exit 51).
#[test]
fn refuses_a_mac_whose_type_tag_was_changed() {
    let path = format!("{}/tests/fixtures/sops/basic.enc.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("basic.enc.yaml");
    let file = SopsFile::parse(Format::Yaml, text.as_bytes()).expect("parses");
    let key = fixture_key(&file);
    assert!(file.decrypt(&key, false).is_ok(), "the fixture itself decrypts");
    for tag in ["Atr", "int", "comment", "bytes"] {
        let mut changed = file.clone();
        let mac = changed.metadata.mac.take().expect("the fixture has a MAC");
        changed.metadata.mac = Some(mac.replace(",type:str]", &format!(",type:{tag}]")));
        let err = changed.decrypt(&key, false).err().expect("a retyped MAC is refused");
        assert!(matches!(err, FileError::Mac(_)), "{tag}: {err}");
    }
}

/// `--unencrypted-suffix ""` left every value in clear text and wrote `unencrypted_suffix: ""`,
/// which reads back as the default rule, so the file did not even decrypt. sops treats an empty
/// rule as unset; so does `SopsFile::encrypt` now.
#[test]
fn an_empty_suffix_or_regex_rule_means_the_default_rule() {
    let mut doc = Map::new();
    doc.push("password", Node::str("hunter2"));
    doc.push("note_unencrypted", Node::str("clear"));
    let key = DataKey::generate();
    for field in EncryptionRule::FIELD_NAMES {
        let rule = EncryptionRule::from_field(field, "").expect("an empty pattern compiles");
        let (file, bytes) = encrypt_and_write(Format::Yaml, vec![doc.clone()], &key, rule, false);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("hunter2"), "{field}: the secret is in clear text:\n{text}");
        assert!(text.contains("note_unencrypted: clear"), "{field}: default rule applies");
        assert_eq!(file.metadata.rule, EncryptionRule::UnencryptedSuffix("_unencrypted".into()));
        let opened = read_and_decrypt(Format::Yaml, &bytes, &key).expect("decrypts");
        assert!(same_docs(&opened.docs, std::slice::from_ref(&doc)));
    }
}
