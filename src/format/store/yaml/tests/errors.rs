//! Refused inputs: each error says what is wrong and where, and never quotes a value.
//! Wording follows go-yaml where go-yaml has words for it; positions are 1-based.

use crate::format::store::yaml::{YamlError, parse};

fn err(input: &str) -> YamlError {
    match parse(input.as_bytes()) {
        Err(e) => e,
        Ok(docs) => panic!("accepted {input:?}: {docs:?}"),
    }
}

fn assert_err(input: &str, line: usize, column: usize, wording: &str) {
    let e = err(input);
    assert!(e.message.contains(wording), "{input:?}: {e}");
    assert_eq!((e.line, e.column), (line, column), "{input:?}: {e}");
}

#[test]
fn rejects_top_level_list() {
    assert_err("- a\n- b\n", 1, 1, "YAML documents that are sequences are not supported");
}

#[test]
fn rejects_top_level_scalar() {
    assert_err("a: 1\n---\nhello\n", 3, 1, "YAML documents that are values are not supported");
}

#[test]
fn rejects_duplicate_keys() {
    assert_err("a: 1\nb: 2\na: 3\n", 3, 1, "mapping key \"a\" already defined at line 1");
    // Quoting does not make a different key, as for go-yaml.
    assert_err("x:\n    a: 1\n    \"a\": 2\n", 3, 5, "mapping key \"a\" already defined at line 2");
}

#[test]
fn rejects_duplicate_keys_in_later_documents_too() {
    assert_err("a: 1\n---\nb: 1\nb: 2\n", 4, 1, "mapping key \"b\" already defined at line 3");
}

#[test]
fn rejects_non_string_keys_naming_the_key() {
    assert_err("1: x\n", 1, 1, "mapping key \"1\" is an int, not a string");
    assert_err("a: 1\ntrue: x\n", 2, 1, "mapping key \"true\" is a bool, not a string");
    assert_err("~: x\n", 1, 1, "mapping key \"~\" is null, not a string");
    assert_err("1.5: x\n", 1, 1, "mapping key \"1.5\" is a float, not a string");
    assert_err("2024-01-02: x\n", 1, 1, "mapping key \"2024-01-02\" is a timestamp, not a string");
    assert_err("? [a]\n: x\n", 1, 3, "mapping key is a collection, not a string");
}

#[test]
fn rejects_bad_indentation() {
    assert_err("a:\n    b: 1\n  c: 2\n", 3, 3, "did not find expected key");
    assert_err("a:\n\tb: 1\n", 2, 1, "found character that cannot start any token");
}

#[test]
fn rejects_unclosed_quote() {
    assert_err(
        "a: \"unclosed\nb: 2\n",
        3,
        1,
        "found unexpected end of stream (while scanning a quoted scalar started at line 1, column 4)",
    );
}

#[test]
fn rejects_alias_to_unknown_anchor() {
    assert_err("a: 1\nb: *nope\n", 2, 4, "unknown anchor 'nope' referenced");
}

#[test]
fn rejects_alias_inside_its_own_anchor() {
    assert_err("a: &a [1, *a]\n", 1, 11, "anchor 'a' value contains itself");
}

#[test]
fn rejects_billion_laughs() {
    let mut doc = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 0..8u8 {
        let (name, prev) = ((b'b' + i) as char, (b'a' + i) as char);
        let refs = vec![format!("*{prev}"); 9].join(", ");
        doc.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let start = std::time::Instant::now();
    let e = err(&doc);
    assert!(e.message.contains("document contains excessive aliasing"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn accepts_moderate_aliasing() {
    let doc = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\nc: {x: *a}\n";
    assert!(parse(doc.as_bytes()).is_ok());
}

#[test]
fn rejects_merge_of_a_scalar() {
    assert_err("a:\n    <<: 5\n", 2, 9, "map merge requires map or sequence of maps as the value");
    assert_err(
        "a: &a 1\nb:\n    <<: [*a]\n",
        3,
        9,
        "map merge requires map or sequence of maps as the value",
    );
}

#[test]
fn rejects_integers_sops_cannot_store() {
    let e = err("a: 9223372036854775808\n");
    assert!(e.message.contains("unknown type uint64"), "{e}");
    assert!(!e.message.contains("9223372036854775808"), "the value leaked: {e}");
    assert_eq!((e.line, e.column), (1, 4));
}

#[test]
fn rejects_values_that_do_not_fit_their_tag_without_quoting_them() {
    let e = err("a: !!int s3cret\n");
    assert!(e.message.contains("cannot decode a !!str value as a !!int"), "{e}");
    assert!(!e.message.contains("s3cret"), "the value leaked: {e}");
    let e = err("a: !!binary \"s3cret!\"\n");
    assert!(e.message.contains("!!binary value contains invalid base64 data"), "{e}");
    assert!(!e.to_string().contains("s3cret"), "the value leaked: {e}");
}

#[test]
fn rejects_yaml_1_2_directive_like_go_yaml() {
    assert_err("%YAML 1.2\n---\na: 1\n", 1, 1, "found incompatible YAML document");
}

#[test]
fn rejects_control_characters_and_invalid_utf8() {
    let e = parse(b"a: x\x01y\n").unwrap_err();
    assert!(e.message.contains("control characters are not allowed"), "{e}");
    assert_eq!((e.line, e.column), (1, 5));
    let e = parse(b"a: 1\nb: \xff\n").unwrap_err();
    assert!(e.message.contains("not valid UTF-8"), "{e}");
    assert_eq!((e.line, e.column), (2, 4));
}

#[test]
fn rejects_input_with_only_comments() {
    assert_err("# nothing else\n\n", 1, 1, "no YAML document");
}

#[test]
fn empty_input_has_no_documents() {
    assert_eq!(parse(b"").unwrap(), Vec::new());
}

#[test]
fn rejects_unknown_escape_and_tag_handle() {
    assert_err("a: \"\\q\"\n", 1, 5, "found unknown escape character");
    assert_err("a: !e!x 1\n", 1, 4, "found undefined tag handle");
}

#[test]
fn rejects_too_deep_nesting_without_overflowing_the_stack() {
    let deep = "a: ".to_owned() + &"[".repeat(5000) + &"]".repeat(5000) + "\n";
    let e = err(&deep);
    assert!(e.message.contains("nests deeper than"), "{e}");
}

#[test]
fn nesting_up_to_the_limit_fits_a_small_stack() {
    // 250 levels of block mappings and of flow sequences, parsed, emitted and dropped on a
    // 1 MiB stack in whatever profile the tests run.
    let run = |doc: String| {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let docs = parse(doc.as_bytes()).expect("within the depth limit");
                let out = crate::format::store::yaml::emit(&docs);
                assert_eq!(parse(out.as_bytes()).unwrap(), docs);
            })
            .unwrap()
            .join()
            .is_ok()
    };
    let maps: String = (0..250).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect::<String>()
        + &" ".repeat(250)
        + "v: 1\n";
    assert!(run(maps));
    assert!(run("a: ".to_owned() + &"[".repeat(250) + "1" + &"]".repeat(250) + "\n"));
}

#[test]
fn rejects_alias_chains_that_nest_too_deep() {
    let mut doc = String::from("a0: &a0 [x]\n");
    for i in 1..300 {
        doc.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
    }
    let e = err(&doc);
    assert!(
        e.message.contains("nests deeper than") || e.message.contains("excessive aliasing"),
        "{e}"
    );
}

#[test]
fn anchors_stay_valid_across_documents_even_when_redefined() {
    let docs = parse(b"a: &x 1\n---\nb: &x [2]\n---\nc: *x\n").unwrap();
    assert_eq!(
        crate::format::store::yaml::emit(&docs),
        "a: 1\n---\nb:\n    - 2\n---\nc:\n    - 2\n"
    );
}
