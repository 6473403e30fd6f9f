//! Checks shared by the fuzz targets: the plain round trip every text store must survive, and
//! the cross-format conversions that must fail cleanly rather than panic.

use sealgate::format::store::{self, Format};
use sealgate::format::{Item, Map, Node, Scalar};

/// Every format, for conversions.
pub const FORMATS: [Format; 5] =
    [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary];

/// `parse_plain` of untrusted bytes, then the laws that hold when it succeeds:
///
/// - the parsed documents can be written back in the same format;
/// - what is written parses again;
/// - writing that again gives the same bytes: emit ∘ parse is a fixpoint after one step for
///   JSON and dotenv. YAML settles within a few steps instead: as with sops, a comment can
///   move or vanish once (a comment inside an empty flow map). INI comments can change on
///   every pass (`;#c` is written `# c`, read back as `c`, then written `; c`), so for INI only
///   the values must be stable.
///   Stores that cannot hold a tree faithfully in a way sops shares are skipped: see
///   [`has_unreadable_yaml`] and [`has_unreadable_ini`].
///
/// Conversions to every other format may fail, but only with an error, and what they write
/// must parse in that format.
pub fn plain_round_trip(format: Format, data: &[u8]) {
    let Ok(docs) = store::parse_plain(format, data) else { return };
    convert_to_other_formats(format, &docs);
    if format == Format::Ini && docs.iter().any(has_unreadable_ini) {
        return;
    }
    let mut current = docs.clone();
    let mut previous = store::emit_plain(format, &current)
        .unwrap_or_else(|e| panic!("{format}: parsed documents cannot be written back: {e}"));
    let steps = if format == Format::Yaml { 4 } else { 1 };
    for step in 1..=steps {
        let before = current;
        current = match store::parse_plain(format, &previous) {
            Ok(again) => again,
            Err(_) if format == Format::Yaml && before.iter().any(has_unreadable_yaml) => return,
            Err(e) => panic!("{format}: what we wrote does not parse: {e}"),
        };
        let next = store::emit_plain(format, &current)
            .unwrap_or_else(|e| panic!("{format}: re-parsed documents cannot be written: {e}"));
        if next[..] == previous[..] {
            break;
        }
        // INI comments may take many steps to settle (each pass strips one more run of `#`,
        // `;` and spaces, as sops's stripCommentChar does); the values must not change.
        if format == Format::Ini && without_comments(&current) == without_comments(&before) {
            break;
        }
        assert!(
            step < steps,
            "{format}: emit ∘ parse does not settle\nbefore:\n{}\nafter:\n{}",
            String::from_utf8_lossy(&previous),
            String::from_utf8_lossy(&next)
        );
        previous = next;
    }
}

/// The documents without comment items (INI has no lists).
fn without_comments(docs: &[Map]) -> Vec<Map> {
    docs.iter()
        .map(|d| {
            Map(d
                .0
                .iter()
                .filter_map(|item| match item {
                    Item::Entry(k, Node::Map(m)) => Some(Item::Entry(
                        k.clone(),
                        Node::Map(without_comments(std::slice::from_ref(m)).remove(0)),
                    )),
                    Item::Entry(..) => Some(item.clone()),
                    Item::Comment(_) => None,
                })
                .collect())
        })
        .collect()
}

/// Conversions to every other format may fail, but only with an error.
fn convert_to_other_formats(format: Format, docs: &[Map]) {
    for other in FORMATS {
        if other == format {
            continue;
        }
        if let Ok(bytes) = store::emit_plain(other, docs) {
            // sops can write files it cannot read back (a dotenv key with `=`): only no panic.
            let _ = store::parse_plain(other, &bytes);
        }
    }
}

/// True when the tree holds something that sops 3.11 writes as YAML it cannot read back, as
/// sealgate does to stay byte-compatible (each case is in tests/fixtures/yaml-corpus):
///
/// - a `<<` key is written as `!!merge <<:`, which go-yaml refuses unless the value is a map
///   (`keys-merge-quoted`);
/// - a key whose first line starts with a tab and that holds a newline would be a block
///   scalar go-yaml cannot re-read, so it is written as `null` (`keys-tab-first-line`);
/// - a multi-line string in a list that starts with a space or a newline is written as a
///   block scalar with an indentation indicator (`- |4-`) that go-yaml misplaces
///   (`values-block-hint-in-list`).
pub fn has_unreadable_yaml(map: &Map) -> bool {
    map_has(map, false)
}

fn map_has(map: &Map, in_list: bool) -> bool {
    map.entries().any(|(k, v)| {
        k == "<<"
            || (k.starts_with('\t') && k.contains('\n'))
            || (in_list && needs_block_hint(k.as_bytes()))
            || node_has(v, in_list)
    })
}

fn node_has(node: &Node, in_list: bool) -> bool {
    match node {
        Node::Map(m) => map_has(m, in_list),
        Node::List(items) => items.iter().any(|n| node_has(n, true)),
        Node::Scalar(Scalar::Str(s)) => in_list && needs_block_hint(s),
        _ => false,
    }
}

fn needs_block_hint(s: &[u8]) -> bool {
    matches!(s.first(), Some(b' ' | b'\n')) && s.contains(&b'\n')
}

/// True when an INI tree holds a string that go-ini (so sops 3.11, and sealgate with it)
/// writes in a form it reads back differently or not at all:
///
/// - a key or value that needs `"""` quoting (it holds a newline or a backquote) but contains
///   `"""` itself. Checked with sops: the three-line value `a`, `"""`, `b` is written as
///   `k = """a` / `"""` / `b"""`, which sops then refuses;
/// - a key holding `"`, `=` or `:` is wrapped in backquotes even when it holds a backquote
///   too, and read back only up to that backquote;
/// - a value starting with a quote (`"`, `'`): written bare, its quotes are taken off when it
///   is read back (a run of `"` even reads as a `"""` multi-line value);
/// - a value ending with a backslash, which continues on the next line when read back;
/// - a key holding a line break;
/// - a key starting with `#` or `;` (go-ini numbers each key `-` as `#1`, `#2`, …), written
///   as a line that reads back as a comment.
pub fn has_unreadable_ini(map: &Map) -> bool {
    let triple = |s: &[u8]| s.windows(3).any(|w| w == b"\"\"\"");
    let bad_value = |s: &[u8]| {
        (triple(s) && s.iter().any(|&b| b == b'\n' || b == b'`'))
            || s.ends_with(b"\\")
            || s.starts_with(b"\"")
            || s.starts_with(b"'")
    };
    let bad_key = |k: &str| {
        bad_value(k.as_bytes())
            || (k.contains('`') && k.contains(['"', '=', ':']))
            || k.contains(['\n', '\r'])
            || k.starts_with(['#', ';'])
    };
    fn node(n: &Node, bad_value: &dyn Fn(&[u8]) -> bool) -> bool {
        match n {
            Node::Map(m) => has_unreadable_ini(m),
            // Only the metadata has lists (flattened into keys when written).
            Node::List(items) => items.iter().any(|i| node(i, bad_value)),
            Node::Scalar(Scalar::Str(s)) => bad_value(s),
            _ => false,
        }
    }
    map.entries().any(|(k, v)| bad_key(k) || node(v, &bad_value))
}
