//! Tests of the store face: format detection, metadata placement per format, error messages,
//! random trees round-tripping through every format that can hold them, and arbitrary bytes
//! never panicking a parser.

use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::format::scalar::Scalar;
use crate::format::tree::{Comment, Item, Map, Node};

fn metadata() -> Map {
    let mut stanza = Map::new();
    stanza.push("recipient", Node::str("age1xyz"));
    stanza.push(
        "enc",
        Node::str("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"),
    );
    let mut md = Map::new();
    md.push("age", Node::List(vec![Node::Map(stanza)]));
    md.push("lastmodified", Node::str("2026-11-22T01:57:09Z"));
    md.push("mac", Node::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"));
    md.push("unencrypted_suffix", Node::str("_unencrypted"));
    md.push("version", Node::str("3.11.0"));
    md
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn detects_formats_by_suffix_like_sops() {
    let cases = [
        ("a.yaml", Format::Yaml),
        ("dir.json/a.yml", Format::Yaml),
        ("a.json", Format::Json),
        (".env", Format::Dotenv),
        ("prod.env", Format::Dotenv),
        ("a.ini", Format::Ini),
        ("a.YAML", Format::Binary),
        ("a.env.txt", Format::Binary),
        ("a", Format::Binary),
    ];
    for (path, want) in cases {
        assert_eq!(Format::from_path(Path::new(path)), want, "{path}");
    }
    for f in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
    assert_eq!(Format::from_name("toml"), None);
}

#[test]
fn only_an_empty_yaml_file_is_empty() {
    assert_eq!(parse_plain(Format::Yaml, b""), Err(StoreError::Empty { format: Format::Yaml }));
    assert_eq!(
        StoreError::Empty { format: Format::Yaml }.to_string(),
        "the YAML file is empty: it must contain at least one document"
    );
    // sops encrypts empty dotenv, INI and binary files; an empty JSON file is a syntax error.
    assert_eq!(parse_plain(Format::Dotenv, b"").unwrap(), vec![Map::new()]);
    assert_eq!(parse_plain(Format::Binary, b"").unwrap()[0].get("data"), Some(&Node::str("")));
    assert!(parse_plain(Format::Ini, b"").unwrap()[0].get("DEFAULT").is_some());
    let e = parse_plain(Format::Json, b"").unwrap_err();
    assert!(matches!(e, StoreError::Syntax { .. }));
}

#[test]
fn syntax_errors_name_format_line_and_problem() {
    let e = parse_plain(Format::Json, b"{\n  \"a\": [1,\n}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to parse the JSON input at line 3, column 1: expected a value (object, array, \
         string, number, true, false or null)"
    );
    let e = parse_plain(Format::Dotenv, b"A=1\nB\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to parse the dotenv input at line 2: the line has no `=`: every line must be \
         `KEY=VALUE`, a `#` comment or empty"
    );
    let e = parse_plain(Format::Ini, b"[a]\n[b\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to parse the INI input at line 2: the section header has no closing `]`"
    );
}

#[test]
fn missing_metadata_is_reported_per_format() {
    let cases: [(Format, &[u8], &str); 4] = [
        (Format::Json, b"{\"a\": 1}", "top-level `sops` entry"),
        (Format::Binary, b"{\"data\": \"x\"}", "top-level `sops` entry"),
        (Format::Dotenv, b"A=1\n", "`sops_*` keys"),
        (Format::Ini, b"[s]\na=1\n", "`[sops]` section"),
    ];
    for (format, input, place) in cases {
        let e = parse_encrypted(format, input).unwrap_err();
        assert_eq!(e, StoreError::NoMetadata { format });
        assert_eq!(
            e.to_string(),
            format!("sops metadata not found: the {format} input has no {place}")
        );
    }
    // `"sops": null` is no metadata either (sops: a nil pointer).
    assert!(matches!(
        parse_encrypted(Format::Json, b"{\"sops\": null}"),
        Err(StoreError::NoMetadata { .. })
    ));
}

#[test]
fn malformed_metadata_is_named() {
    let e = parse_encrypted(Format::Json, b"{\"sops\": {\"version\": \"3.11.0\"}, \"sops\": {}}")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to read the sops metadata of the JSON input at `sops`: the top-level `sops` \
         entry appears more than once"
    );
    let e = parse_encrypted(Format::Json, b"{\"sops\": \"x\"}").unwrap_err();
    assert!(e.to_string().ends_with("at `sops`: expected a map"), "{e}");
    let e = parse_encrypted(Format::Dotenv, b"sops_age__list_x__map_enc=1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to read the sops metadata of the dotenv input at `age__list_x__map_enc`: list \
         index `x` is not a whole number"
    );
    let e = parse_encrypted(Format::Ini, b"[sops]\nshamir_threshold = many\n").unwrap_err();
    assert!(e.to_string().contains("`shamir_threshold`: shamir_threshold is not an integer"));
}

#[test]
fn json_metadata_is_the_last_member_and_parses_back() {
    let mut doc = Map::new();
    doc.push("a", Node::str("ENC[…]"));
    let out = emit_encrypted(Format::Json, std::slice::from_ref(&doc), &metadata()).unwrap();
    let out = text(&out);
    assert!(out.starts_with("{\n\t\"a\": \"ENC[…]\",\n\t\"sops\": {\n\t\t\"age\": [\n"), "{out}");
    assert!(out.contains("\"enc\": \"-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END"));
    assert!(out.ends_with("\t\t\"version\": \"3.11.0\"\n\t}\n}\n"), "{out}");
    let (docs, md) = parse_encrypted(Format::Json, out.as_bytes()).unwrap();
    assert_eq!(docs, vec![doc]);
    assert_eq!(md, metadata());
}

#[test]
fn dotenv_metadata_is_flattened_sorted_and_prefixed() {
    let doc = dotenv::parse(b"#c\nA=1\n").unwrap();
    let out = emit_encrypted(Format::Dotenv, std::slice::from_ref(&doc), &metadata()).unwrap();
    assert_eq!(
        text(&out),
        "#c\nA=1\n\
         sops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END AGE ENCRYPTED FILE-----\\n\n\
         sops_age__list_0__map_recipient=age1xyz\n\
         sops_lastmodified=2026-11-22T01:57:09Z\n\
         sops_mac=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n\
         sops_unencrypted_suffix=_unencrypted\n\
         sops_version=3.11.0\n"
    );
    let (docs, md) = parse_encrypted(Format::Dotenv, &out).unwrap();
    assert_eq!(docs, vec![doc]);
    assert_eq!(flatten::flatten(&md).unwrap(), flatten::flatten(&metadata()).unwrap());
}

#[test]
fn ini_metadata_is_a_final_aligned_section() {
    let doc = ini::parse(b"[s]\na = 1\n").unwrap();
    let out = emit_encrypted(Format::Ini, std::slice::from_ref(&doc), &metadata()).unwrap();
    assert_eq!(
        text(&out),
        "[s]\na = 1\n\n[sops]\n\
         age__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END AGE ENCRYPTED FILE-----\\n\n\
         age__list_0__map_recipient = age1xyz\n\
         lastmodified               = 2026-11-22T01:57:09Z\n\
         mac                        = ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n\
         unencrypted_suffix         = _unencrypted\n\
         version                    = 3.11.0\n"
    );
    let (docs, md) = parse_encrypted(Format::Ini, &out).unwrap();
    assert_eq!(docs, vec![doc]);
    assert_eq!(flatten::flatten(&md).unwrap(), flatten::flatten(&metadata()).unwrap());
}

#[test]
fn binary_is_json_when_encrypted_and_raw_when_plain() {
    let docs = parse_plain(Format::Binary, b"\x00\xffraw").unwrap();
    let mut enc = docs.clone();
    enc[0].insert("data", Node::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"));
    let out = emit_encrypted(Format::Binary, &enc, &metadata()).unwrap();
    assert!(text(&out).starts_with("{\n\t\"data\": \"ENC[AES256_GCM"));
    let (back, _) = parse_encrypted(Format::Binary, &out).unwrap();
    assert_eq!(back, enc);
    assert_eq!(&emit_plain(Format::Binary, &docs).unwrap()[..], b"\x00\xffraw");
}

#[test]
fn yaml_metadata_goes_into_every_document_and_comes_from_the_first() {
    let mut a = Map::new();
    a.push("a", Node::str("x"));
    let mut b = Map::new();
    b.push("b", Node::str("y"));
    let out = emit_encrypted(Format::Yaml, &[a.clone(), b.clone()], &metadata()).unwrap();
    assert_eq!(text(&out).matches("\nsops:\n").count(), 2, "{}", text(&out));
    let (docs, md) = parse_encrypted(Format::Yaml, &out).unwrap();
    assert_eq!(docs, vec![a, b]);
    assert_eq!(md, metadata());
}

#[test]
fn has_metadata_matches_what_sops_refuses_to_encrypt() {
    assert!(has_metadata(Format::Json, b"{\"sops\": 1}"));
    assert!(!has_metadata(Format::Json, b"{\"SOPS\": 1, \"x\": {\"sops\": 1}}"));
    assert!(!has_metadata(Format::Json, b"not json"));
    assert!(has_metadata(Format::Dotenv, b"A=1\nsops_version=3.11.0\n"));
    assert!(!has_metadata(Format::Dotenv, b"sops=1\n"));
    assert!(has_metadata(Format::Ini, b"[sops]\na=1\n"));
    assert!(!has_metadata(Format::Ini, b"[s]\nsops=1\n"));
    // sops wraps any file again in the binary store.
    assert!(!has_metadata(Format::Binary, b"{\"data\": \"x\", \"sops\": {}}"));
}

#[test]
fn emit_value_prints_like_sops_decrypt_extract() {
    let list = Node::List(vec![Node::Scalar(Scalar::Float(1.0)), Node::str("<")]);
    assert_eq!(text(&emit_value(Format::Json, &list).unwrap()), "[\n\t1,\n\t\"\\u003c\"\n]");
    assert_eq!(text(&emit_value(Format::Ini, &list).unwrap()), "[1,\"\\u003c\"]");
    assert_eq!(text(&emit_value(Format::Json, &Node::str("raw\n")).unwrap()), "raw\n");
    let mut map = Map::new();
    map.push("k", Node::str("v"));
    assert_eq!(
        text(&emit_value(Format::Json, &Node::Map(map.clone())).unwrap()),
        "{\n\t\"k\": \"v\"\n}\n"
    );
    assert_eq!(text(&emit_value(Format::Dotenv, &Node::Map(map)).unwrap()), "k=v\n");
    let e = emit_value(Format::Dotenv, &Node::Scalar(Scalar::Float(1.5))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot print the extracted value as dotenv: the dotenv store only prints strings, and \
         this value is a number; extract it as yaml or json instead"
    );
    let e = emit_value(Format::Binary, &Node::Scalar(Scalar::Bool(true))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot print the extracted value as binary: binary files are not structured, so only a \
         string (the whole file) can be printed"
    );
}

#[test]
fn emit_errors_name_the_value_path() {
    let mut inner = Map::new();
    inner.push("x", Node::List(vec![Node::Scalar(Scalar::Float(f64::NAN))]));
    let mut doc = Map::new();
    doc.push("outer", Node::Map(inner));
    let e = emit_plain(Format::Json, &[doc.clone()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot write JSON: the value at [\"outer\"][\"x\"][0] is NaN, which JSON cannot \
         represent (Go: unsupported value)"
    );
    let e = emit_plain(Format::Dotenv, &[doc.clone()]).unwrap_err();
    assert!(
        e.to_string().starts_with("cannot write dotenv: the value at [\"outer\"] is a map or list"),
        "{e}"
    );
    let mut flat = Map::new();
    flat.push("top", Node::str("x"));
    let e = emit_plain(Format::Ini, &[flat]).unwrap_err();
    assert!(
        e.to_string().starts_with("cannot write INI: the value at [\"top\"] is not a map"),
        "{e}"
    );
    let e = emit_plain(Format::Binary, &[doc]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot write binary: the document has no `data` key, so it is not a binary file \
         (choose another output type)"
    );
    let e = emit_plain(Format::Json, &[]).unwrap_err();
    assert_eq!(e.to_string(), "cannot write JSON: there is no document");
}

#[test]
fn json_and_dotenv_write_only_the_first_document_ini_writes_all() {
    let mut a = Map::new();
    a.push(
        "s",
        Node::Map({
            let mut m = Map::new();
            m.push("k", Node::str("1"));
            m
        }),
    );
    let b = a.clone();
    assert_eq!(
        text(&emit_plain(Format::Json, &[a.clone(), b.clone()]).unwrap()).matches("\"s\"").count(),
        1
    );
    assert_eq!(text(&emit_plain(Format::Ini, &[a, b]).unwrap()), "[s]\nk = 1\n\n[s]\nk = 1\n");
}

#[test]
fn large_inputs_parse_and_emit_in_linear_time() {
    // 200k values, ~8 MB: must stay fast (the budget is generous for a debug build).
    let mut json = String::from("{");
    let mut env = String::new();
    let mut ini = String::from("[s]\n");
    for i in 0..200_000 {
        let sep = if i == 0 { "" } else { "," };
        json.push_str(&format!("{sep}\"key{i}\": \"value {i} with some padding text\""));
        env.push_str(&format!("KEY{i}=value {i} with some padding text\n"));
        ini.push_str(&format!("key{i} = value {i} with some padding text\n"));
    }
    json.push('}');
    let start = std::time::Instant::now();
    for (format, input) in [(Format::Json, &json), (Format::Dotenv, &env), (Format::Ini, &ini)] {
        let docs = parse_plain(format, input.as_bytes()).unwrap();
        let out = emit_plain(format, &docs).unwrap();
        assert!(out.len() > 5_000_000);
    }
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn json_value(depth: u32) -> BoxedStrategy<Node> {
    let leaf = prop_oneof![
        Just(Node::Scalar(Scalar::Null)),
        any::<bool>().prop_map(|b| Node::Scalar(Scalar::Bool(b))),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Node::Scalar(Scalar::Float(f))),
        (-1e6f64..1e6).prop_map(|f| Node::Scalar(Scalar::Float(f.trunc()))),
        any::<String>().prop_map(Node::str),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => prop::collection::vec(json_value(depth - 1), 0..4).prop_map(Node::List),
        1 => json_map(depth - 1).prop_map(Node::Map),
    ]
    .boxed()
}

fn json_map(depth: u32) -> BoxedStrategy<Map> {
    prop::collection::vec((any::<String>(), json_value(depth)), 0..5)
        .prop_map(|entries| {
            let mut m = Map::new();
            for (k, v) in entries {
                m.push(k, v);
            }
            m
        })
        .boxed()
}

fn dotenv_doc() -> impl Strategy<Value = Map> {
    let key = "[A-Za-z_ .:-][A-Za-z0-9_ .:-]{0,12}|";
    let value = "[A-Za-z0-9 =#\"'\t\n.:;é☕-]{0,20}";
    let comment = "[A-Za-z0-9 =#\"'.:;-]{0,20}";
    prop::collection::vec(
        prop_oneof![
            (key, value).prop_map(|(k, v): (String, String)| Item::Entry(k, Node::str(v))),
            comment.prop_map(|c: String| Item::Comment(Comment::new(c))),
        ],
        0..8,
    )
    .prop_map(Map)
}

fn ini_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 =:;#.'\"é-]{0,16}",
        "[a-z`]{1,6}",
        prop::collection::vec("[a-z ]{1,8}", 2..4).prop_map(|lines| lines.join("\n")),
    ]
    .prop_filter("go-ini reads such values differently from how it writes them", |v| {
        // Wrapped in quotes (unquoted on read), quoted for space while holding a quote, or
        // opening with `"""` (a multi-line value on read): go-ini itself does not round-trip.
        let b = v.as_bytes();
        !(b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\''))
            && !(v.trim() != v && v.contains('"'))
            && !v.starts_with("\"\"\"")
    })
}

fn ini_section() -> impl Strategy<Value = Map> {
    let key = "[a-z][a-z0-9_.=:\"]{0,8}";
    let comment = "[a-z0-9]([a-z0-9 ]{0,10}[a-z0-9])?";
    (
        prop::option::of(comment),
        prop::collection::vec((key, ini_value(), prop::option::of(comment)), 0..5),
    )
        .prop_map(|(header, keys)| {
            let mut m = Map::new();
            if let Some(c) = header {
                m.0.push(Item::Comment(Comment::new(c)));
            }
            let mut seen = std::collections::HashSet::new();
            for (k, v, c) in keys {
                if !seen.insert(k.clone()) {
                    continue;
                }
                m.push(k, Node::str(v));
                if let Some(c) = c {
                    m.0.push(Item::Comment(Comment::new(c)));
                }
            }
            m
        })
}

fn ini_doc() -> impl Strategy<Value = Map> {
    (ini_section(), prop::collection::vec(("[a-z][a-z0-9 _.]{0,8}", ini_section()), 0..4)).prop_map(
        |(default, sections)| {
            // A header comment cannot belong to DEFAULT: it has no header.
            let mut default = default;
            if matches!(default.0.first(), Some(Item::Comment(_))) {
                default.0.remove(0);
            }
            let mut doc = Map::new();
            doc.push("DEFAULT", Node::Map(default));
            for (name, section) in sections {
                doc.push(name, Node::Map(section));
            }
            doc
        },
    )
}

proptest! {
    #[test]
    fn random_json_trees_round_trip(doc in json_map(3)) {
        let out = emit_plain(Format::Json, std::slice::from_ref(&doc)).unwrap();
        let back = parse_plain(Format::Json, &out).unwrap();
        prop_assert_eq!(&back, &vec![doc]);
        prop_assert_eq!(&emit_plain(Format::Json, &back).unwrap()[..], &out[..]);
    }

    #[test]
    fn random_dotenv_documents_round_trip(doc in dotenv_doc()) {
        let out = emit_plain(Format::Dotenv, std::slice::from_ref(&doc)).unwrap();
        prop_assert_eq!(parse_plain(Format::Dotenv, &out).unwrap(), vec![doc]);
    }

    #[test]
    fn random_ini_documents_round_trip(doc in ini_doc()) {
        let out = emit_plain(Format::Ini, std::slice::from_ref(&doc)).unwrap();
        let back = parse_plain(Format::Ini, &out).unwrap();
        prop_assert_eq!(&back, &vec![doc], "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn random_bytes_round_trip_through_binary(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let docs = parse_plain(Format::Binary, &bytes).unwrap();
        prop_assert_eq!(&emit_plain(Format::Binary, &docs).unwrap()[..], &bytes[..]);
    }

    #[test]
    fn random_metadata_round_trips_through_flattening(
        stanzas in prop::collection::vec(("[a-z0-9]{1,10}", "[A-Za-z0-9+/=\n-]{0,30}"), 1..4),
        threshold in 0i64..5,
        mac_only in any::<bool>(),
    ) {
        let mut md = Map::new();
        md.push("shamir_threshold", Node::Scalar(Scalar::Int(threshold)));
        md.push("age", Node::List(stanzas.into_iter().map(|(r, e)| {
            let mut m = Map::new();
            m.push("enc", Node::str(e));
            m.push("recipient", Node::str(r));
            Node::Map(m)
        }).collect()));
        md.push("lastmodified", Node::str("2026-11-22T01:57:09Z"));
        md.push("mac_only_encrypted", Node::Scalar(Scalar::Bool(mac_only)));
        for format in [Format::Dotenv, Format::Ini] {
            let out = emit_encrypted(format, &[Map::new()], &md).unwrap();
            let (_, back) = parse_encrypted(format, &out).unwrap();
            prop_assert_eq!(flatten::flatten(&back).unwrap(), flatten::flatten(&md).unwrap());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
            let _ = parse_plain(format, &bytes);
            let _ = parse_encrypted(format, &bytes);
            let _ = has_metadata(format, &bytes);
        }
    }

    #[test]
    fn format_shaped_noise_never_panics_a_parser(
        json in "[\\[\\]{}\":,0-9eE.+\\-tfnrlsu\\\\ \n]{0,64}",
        ini in "[\\[\\]=:;#`\"'\\\\ \n\ta-z-]{0,64}",
        env in "[=#\\\\n \nA-Za-z_]{0,64}",
    ) {
        let _ = parse_encrypted(Format::Json, json.as_bytes());
        let _ = parse_plain(Format::Json, json.as_bytes());
        let _ = parse_encrypted(Format::Ini, ini.as_bytes());
        if let Ok(docs) = parse_plain(Format::Ini, ini.as_bytes()) {
            let _ = emit_plain(Format::Ini, &docs);
        }
        let _ = parse_encrypted(Format::Dotenv, env.as_bytes());
        if let Ok(docs) = parse_plain(Format::Dotenv, env.as_bytes()) {
            let _ = emit_plain(Format::Dotenv, &docs);
        }
        let sops_env = format!("sops_{}", env.replace('\n', "\nsops_"));
        let _ = parse_encrypted(Format::Dotenv, sops_env.as_bytes());
    }
}
