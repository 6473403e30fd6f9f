//! `emit_value` checked against what `sops decrypt --extract` printed.

use zeroize::Zeroizing;

use crate::format::scalar::Scalar;
use crate::format::store::yaml::{emit_value, parse};
use crate::format::timestamp::Timestamp;
use crate::format::tree::Node;

fn value_of(yaml: &str, key: &str) -> Node {
    let docs = parse(yaml.as_bytes()).expect("valid YAML");
    docs[0].get(key).expect("key present").clone()
}

#[test]
fn scalars_print_like_sops_extract() {
    assert_eq!(emit_value(&Node::Scalar(Scalar::Int(8080))), "8080\n");
    assert_eq!(emit_value(&Node::Scalar(Scalar::Float(1e6))), "1e+06\n");
    assert_eq!(emit_value(&Node::Scalar(Scalar::Float(2.5))), "2.5\n");
    assert_eq!(emit_value(&Node::Scalar(Scalar::Float(f64::NEG_INFINITY))), "-.inf\n");
    assert_eq!(emit_value(&Node::Scalar(Scalar::Bool(true))), "true\n");
    assert_eq!(emit_value(&Node::Scalar(Scalar::Null)), "null\n");
    let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05Z").unwrap();
    assert_eq!(emit_value(&Node::Scalar(Scalar::Time(t))), "2024-01-02T03:04:05Z\n");
}

#[test]
fn collections_print_like_sops_extract() {
    let list = value_of("l:\n    - a\n    # c in list\n    - {x: 1}\n", "l");
    assert_eq!(emit_value(&list), "- a\n# c in list\n- x: 1\n");
    let map = value_of("m:\n    # head of m\n    k: v\n    j: [1, 2]\n    n:\n        - x\n", "m");
    assert_eq!(emit_value(&map), "# head of m\nk: v\nj:\n    - 1\n    - 2\n\"n\":\n    - x\n");
    assert_eq!(emit_value(&value_of("ll: [[1, 2], [3]]\n", "ll")), "- - 1\n  - 2\n- - 3\n");
    assert_eq!(emit_value(&value_of("e: {}\n", "e")), "{}\n");
    assert_eq!(emit_value(&value_of("e: []\n", "e")), "[]\n");
}

#[test]
fn strings_are_encoded_as_yaml_when_asked() {
    // sops prints a string leaf raw; encoded, it is a YAML document like any other value.
    assert_eq!(emit_value(&Node::str("yes")), "\"yes\"\n");
    assert_eq!(
        emit_value(&Node::Scalar(Scalar::Str(Zeroizing::new(vec![0x80])))),
        "!!binary gA==\n"
    );
}
