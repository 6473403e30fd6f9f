//! Go's text forms of values, as sops 3.11 prints them where no JSON or YAML encoder is involved:
//! its `ValToString` (dotenv and INI values), Go's `%v`, Go's type names, and Go's lossy UTF-8.

use crate::format::scalar::{Scalar, format_float_go_g, format_float_plain};
use crate::format::timestamp::Timestamp;
use crate::format::tree::{Item, Map, Node};

/// sops's `ValToString` for one value: strings verbatim, floats as Go's `%G` with `.0` added to
/// whole numbers (`1.0`, `1E-07`, `1.234567E+06`), times as RFC 3339 with whole seconds, null as
/// `<nil>`, anything else (maps, lists) as Go's `%v`.
pub(crate) fn value_to_string(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::Scalar(Scalar::Float(f)) => out.extend_from_slice(float_to_string(*f).as_bytes()),
        Node::Scalar(Scalar::Time(t)) => out.extend_from_slice(t.to_rfc3339_secs().as_bytes()),
        other => fmt_v(other, out),
    }
}

/// A float as sops's `ValToString` writes it: Go's `strconv.FormatFloat(f, 'G', -1, 64)`, plus
/// `.0` when that has neither a point nor an exponent. `+Inf`, `-Inf`, `NaN` stay as they are.
pub(crate) fn float_to_string(f: f64) -> String {
    if !f.is_finite() {
        return format_float_plain(f);
    }
    let mut s = format_float_go_g(f).replace('e', "E");
    if !s.contains(['.', 'E']) {
        s.push_str(".0");
    }
    s
}

/// Go's `fmt.Sprintf("%v", v)` of a sops tree value: lists as `[a b]`, maps (sops `TreeBranch`,
/// a list of key/value structs) as `[{k v} {k2 v2}]`, comments as `{text}`, null as `<nil>`.
pub(crate) fn fmt_v(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::Scalar(s) => scalar_v(s, out),
        Node::Comment(c) => {
            out.push(b'{');
            out.extend_from_slice(c.text().as_bytes());
            out.push(b'}');
        }
        Node::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                fmt_v(item, out);
            }
            out.push(b']');
        }
        Node::Map(map) => map_v(map, out),
    }
}

fn map_v(map: &Map, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, item) in map.0.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match item {
            Item::Entry(k, v) => {
                out.push(b'{');
                out.extend_from_slice(k.as_bytes());
                out.push(b' ');
                fmt_v(v, out);
                out.push(b'}');
            }
            Item::Comment(c) => {
                out.extend_from_slice(b"{{");
                out.extend_from_slice(c.text().as_bytes());
                out.extend_from_slice(b"} <nil>}");
            }
        }
    }
    out.push(b']');
}

fn scalar_v(s: &Scalar, out: &mut Vec<u8>) {
    match s {
        Scalar::Null => out.extend_from_slice(b"<nil>"),
        Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Scalar::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Scalar::Float(f) => out.extend_from_slice(format_float_go_g(*f).as_bytes()),
        Scalar::Str(b) => out.extend_from_slice(b),
        Scalar::Time(t) => out.extend_from_slice(time_string(t).as_bytes()),
    }
}

/// Go's `time.Time.String()` for a parsed timestamp: `2024-01-02 03:04:05.12 +0000 UTC`; a fixed
/// offset has no zone name, so Go prints the offset twice (`+0200 +0200`).
fn time_string(t: &Timestamp) -> String {
    let rfc = t.to_rfc3339_nano();
    // `YYYY-MM-DDTHH:MM:SS[.frac]` then the zone; years outside 0..=9999 do not occur in sops.
    let zone_at = rfc.rfind(['Z', '+', '-']).filter(|&i| i >= 19).unwrap_or(rfc.len());
    let (date_time, _) = rfc.split_at(zone_at);
    let date_time = date_time.replacen('T', " ", 1);
    if t.offset_secs == 0 {
        format!("{date_time} +0000 UTC")
    } else {
        let sign = if t.offset_secs < 0 { '-' } else { '+' };
        let abs = t.offset_secs.unsigned_abs();
        let zone = format!("{sign}{:02}{:02}", abs / 3600, abs / 60 % 60);
        format!("{date_time} {zone} {zone}")
    }
}

/// Bytes as text the way Go decodes them: every byte that does not start a valid UTF-8 sequence
/// becomes one U+FFFD (Rust's `from_utf8_lossy` would merge some of them).
pub(crate) fn go_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_go_lossy(&mut out, bytes);
    out
}

/// Appends `bytes` to `out`, replacing each invalid byte by U+FFFD as Go does.
pub(crate) fn push_go_lossy(out: &mut String, mut bytes: &[u8]) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // `valid_up_to` guarantees this prefix is UTF-8.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                bytes = &rest[1..];
            }
        }
    }
}

/// Go's `strings.TrimSpace` / `unicode.IsSpace` on bytes that may not be UTF-8: leading and
/// trailing Unicode white space is removed, invalid bytes are never space.
pub(crate) fn trim_space(b: &[u8]) -> &[u8] {
    trim_right_space(trim_left_space(b))
}

pub(crate) fn trim_left_space(mut b: &[u8]) -> &[u8] {
    while let Some((c, len)) = first_char(b) {
        if !c.is_whitespace() {
            break;
        }
        b = &b[len..];
    }
    b
}

pub(crate) fn trim_right_space(mut b: &[u8]) -> &[u8] {
    while let Some((c, len)) = last_char(b) {
        if !c.is_whitespace() {
            break;
        }
        b = &b[..b.len() - len];
    }
    b
}

fn first_char(b: &[u8]) -> Option<(char, usize)> {
    let len = match *b.first()? {
        x if x < 0x80 => 1,
        x if x >> 5 == 0b110 => 2,
        x if x >> 4 == 0b1110 => 3,
        x if x >> 3 == 0b11110 => 4,
        _ => return Some(('\u{FFFD}', 1)),
    };
    match b.get(..len).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => s.chars().next().map(|c| (c, len)),
        None => Some(('\u{FFFD}', 1)),
    }
}

fn last_char(b: &[u8]) -> Option<(char, usize)> {
    let n = b.len();
    if n == 0 {
        return None;
    }
    for len in 1..=4.min(n) {
        if let Ok(s) = std::str::from_utf8(&b[n - len..])
            && let Some(c) = s.chars().next()
            && c.len_utf8() == len
        {
            return Some((c, len));
        }
    }
    Some(('\u{FFFD}', 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_string(node: &Node) -> String {
        let mut out = Vec::new();
        value_to_string(node, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_print_like_sops_val_to_string() {
        // Observed with `sops decrypt --output-type dotenv` of YAML floats.
        let cases = [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (1e-7, "1E-07"),
            (1e21, "1E+21"),
            (1.2345678901234568e29, "1.2345678901234568E+29"),
            (-0.0, "-0.0"),
            (42.0, "42.0"),
            (123456.0, "123456.0"),
            (1234567.0, "1.234567E+06"),
            (0.0001, "0.0001"),
            (0.00001, "1E-05"),
            (5e-324, "5E-324"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(float_to_string(f), want, "{f}");
        }
    }

    #[test]
    fn non_strings_print_go_style() {
        assert_eq!(to_string(&Node::Scalar(Scalar::Null)), "<nil>");
        assert_eq!(to_string(&Node::Scalar(Scalar::Bool(true))), "true");
        assert_eq!(to_string(&Node::Scalar(Scalar::Int(-7))), "-7");
        let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05.120Z").unwrap();
        assert_eq!(to_string(&Node::Scalar(Scalar::Time(t))), "2024-01-02T03:04:05Z");
    }

    #[test]
    fn nested_values_print_as_go_v() {
        // Observed: `sops decrypt --output-type ini` of a YAML map and list inside a section.
        let mut m = Map::new();
        m.push("a", Node::Scalar(Scalar::Float(1.0)));
        m.push("b", Node::str("x"));
        assert_eq!(to_string(&Node::Map(m)), "[{a 1} {b x}]");
        let list = Node::List(vec![
            Node::Scalar(Scalar::Float(1.0)),
            Node::str("two"),
            Node::Scalar(Scalar::Bool(true)),
        ]);
        assert_eq!(to_string(&list), "[1 two true]");
        assert_eq!(to_string(&Node::Map(Map::new())), "[]");
        let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05.120+02:00").unwrap();
        let mut out = Vec::new();
        fmt_v(&Node::Scalar(Scalar::Time(t)), &mut out);
        assert_eq!(out, b"2024-01-02 03:04:05.12 +0200 +0200");
    }

    #[test]
    fn lossy_replaces_each_invalid_byte_like_go() {
        assert_eq!(go_lossy(b"\xff\xfe ok \xe2\x82"), "\u{FFFD}\u{FFFD} ok \u{FFFD}\u{FFFD}");
        assert_eq!(go_lossy("naïve".as_bytes()), "naïve");
    }

    #[test]
    fn trims_unicode_space_but_not_invalid_bytes() {
        assert_eq!(trim_space(" \t\u{a0}x\r\n".as_bytes()), b"x");
        assert_eq!(trim_space(b"\xff "), b"\xff");
        assert_eq!(trim_space("\u{3000}".as_bytes()), b"");
        assert_eq!(trim_left_space(b"  a b "), b"a b ");
    }
}
