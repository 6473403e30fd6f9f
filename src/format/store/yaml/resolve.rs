//! Scalar resolution as go-yaml v3 does it, with Go's number and timestamp parsing.
//! So every plain scalar gets the type sops gives it (`resolve.go`, `strconv`, `time.Parse`).

use crate::format::timestamp::Timestamp;

/// What a scalar resolves to.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer in [2^63, 2^64): go-yaml yields a `uint64`, which sops cannot handle.
    Uint(u64),
    Float(f64),
    Time(Timestamp),
    Str,
}

impl Resolved {
    /// The short tag of the resolved type.
    pub fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool(_) => "!!bool",
            Resolved::Int(_) | Resolved::Uint(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Time(_) => "!!timestamp",
            Resolved::Str => "!!str",
        }
    }
}

/// Tags whose values go-yaml resolves (others keep the text as a string).
pub(super) fn resolvable_tag(tag: &str) -> bool {
    matches!(tag, "" | "!!str" | "!!bool" | "!!int" | "!!float" | "!!null" | "!!timestamp")
}

fn hint(first: Option<u8>) -> u8 {
    match first {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    }
}

fn map_lookup(s: &str) -> Option<Resolved> {
    Some(match s {
        "true" | "True" | "TRUE" => Resolved::Bool(true),
        "false" | "False" | "FALSE" => Resolved::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// go-yaml's `resolve(tag, in)` for a resolvable `tag` ("" for an untagged plain scalar), without
/// its final tag check (see [`resolve_tagged`]).
pub(super) fn resolve(tag: &str, s: &str) -> Resolved {
    let h = hint(s.bytes().next());
    if h == 0 || tag == "!!str" || tag == "!!binary" {
        return Resolved::Str;
    }
    if let Some(r) = map_lookup(s) {
        return r;
    }
    match h {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return Resolved::Float(f);
            }
        }
        b'D' | b'S' => {
            if (tag.is_empty() || tag == "!!timestamp")
                && let Some(t) = parse_timestamp(s)
            {
                return Resolved::Time(t);
            }
            let plain: std::borrow::Cow<str> =
                if s.contains('_') { s.replace('_', "").into() } else { s.into() };
            if let Some(i) = go_parse_int(&plain, 0) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain, 0) {
                return Resolved::Uint(u);
            }
            if yaml_style_float(&plain)
                && let Some(f) = parse_decimal_float(&plain)
            {
                return Resolved::Float(f);
            }
            if let Some(rest) = plain.strip_prefix("0b") {
                if let Some(i) = go_parse_int(rest, 2) {
                    return Resolved::Int(i);
                }
                if let Some(u) = go_parse_uint(rest, 2) {
                    return Resolved::Uint(u);
                }
            } else if let Some(rest) = plain.strip_prefix("-0b")
                && let Some(i) = go_parse_int(&format!("-{rest}"), 2)
            {
                return Resolved::Int(i);
            }
            if let Some(rest) = plain.strip_prefix("0o") {
                if let Some(i) = go_parse_int(rest, 8) {
                    return Resolved::Int(i);
                }
                if let Some(u) = go_parse_uint(rest, 8) {
                    return Resolved::Uint(u);
                }
            } else if let Some(rest) = plain.strip_prefix("-0o")
                && let Some(i) = go_parse_int(&format!("-{rest}"), 8)
            {
                return Resolved::Int(i);
            }
        }
        _ => {}
    }
    Resolved::Str
}

/// `resolve` with an explicit resolvable tag, including go-yaml's check that the value fits the
/// tag (`!!float` also takes integers). On mismatch, returns the tag the value resolved to.
pub(super) fn resolve_tagged(tag: &str, s: &str) -> Result<Resolved, &'static str> {
    let r = resolve(tag, s);
    if tag.is_empty() || tag == "!!str" || tag == "!!binary" || tag == r.tag() {
        return Ok(r);
    }
    if tag == "!!float" {
        match r {
            Resolved::Int(i) => return Ok(Resolved::Float(i as f64)),
            Resolved::Uint(u) => return Ok(Resolved::Float(u as f64)),
            _ => {}
        }
    }
    Err(r.tag())
}

/// Go's `strconv.ParseUint(s, base, 64)` for base 0 (prefixes `0x`, `0o`, `0b`, legacy `0`), 2
/// or 8, without underscores (the callers have removed them).
pub(super) fn go_parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let (digits, base) = if base == 0 {
        if b[0] == b'0' {
            let second = b.get(1).map(u8::to_ascii_lowercase);
            match second {
                Some(b'b') if b.len() >= 3 => (&s[2..], 2),
                Some(b'o') if b.len() >= 3 => (&s[2..], 8),
                Some(b'x') if b.len() >= 3 => (&s[2..], 16),
                _ => (&s[1..], 8),
            }
        } else {
            (s, 10)
        }
    } else {
        (s, base)
    };
    let mut n: u64 = 0;
    for c in digits.bytes() {
        let d = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Go's `strconv.ParseInt(s, base, 64)`: an optional sign, then [`go_parse_uint`].
pub(super) fn go_parse_int(s: &str, base: u32) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let (neg, rest) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest, base)?;
    const CUTOFF: u64 = 1 << 63;
    if !neg && u >= CUTOFF {
        return None;
    }
    if neg && u > CUTOFF {
        return None;
    }
    Some(if neg { (u as i64).wrapping_neg() } else { u as i64 })
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A decimal float as Go's `strconv.ParseFloat` reads it; overflow to infinity is an error.
fn parse_decimal_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() { None } else { Some(f) }
}

/// Go's `strconv.ParseFloat` for a string that starts with `.` (underscores allowed between
/// digits, as Go accepts them).
fn go_parse_float(s: &str) -> Option<f64> {
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    if s.contains('_') {
        if !underscore_ok(s) {
            return None;
        }
        return parse_decimal_float(&s.replace('_', ""));
    }
    parse_decimal_float(s)
}

/// Go's `underscoreOK`: underscores only between digits.
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    for &c in b {
        if c.is_ascii_digit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// go-yaml's timestamp layouts: `2006-1-2T15:4:5.999999999Z07:00` (also with `t`),
/// `2006-1-2 15:4:5.999999999` (UTC) and `2006-1-2` (UTC), parsed as Go's `time.Parse` does.
pub(super) fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    // Quick check: all formats start with YYYY-.
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year = i64::from((b[0] - b'0') as u32 * 1000 + (b[1] - b'0') as u32 * 100)
        + i64::from((b[2] - b'0') as u32 * 10 + (b[3] - b'0') as u32);
    let mut p = Cursor { b, i: 5 };
    let month = p.num()?;
    p.lit(b'-')?;
    let day = p.num()?;
    if p.done() {
        return Timestamp::from_civil((year, month, day), (0, 0, 0), 0, 0);
    }
    let sep = p.next()?;
    let zoned = match sep {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    let hour = p.num()?;
    p.lit(b':')?;
    let minute = p.num()?;
    p.lit(b':')?;
    let second = p.num()?;
    let mut nanos = 0u32;
    if matches!(p.peek(), Some(b'.' | b',')) && p.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
        p.i += 1;
        let start = p.i;
        while p.peek().is_some_and(|c| c.is_ascii_digit()) {
            p.i += 1;
        }
        for (k, d) in b[start..p.i].iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - k as u32);
        }
    }
    let mut offset = 0i32;
    if zoned {
        match p.next()? {
            b'Z' => {}
            sign @ (b'+' | b'-') => {
                let hh = p.fixed2()?;
                p.lit(b':')?;
                let mm = p.fixed2()?;
                if hh > 24 || mm > 60 {
                    return None;
                }
                offset = (hh * 3600 + mm * 60) as i32;
                if sign == b'-' {
                    offset = -offset;
                }
            }
            _ => return None,
        }
    }
    if !p.done() {
        return None;
    }
    Timestamp::from_civil((year, month, day), (hour, minute, second), nanos, offset)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn peek_at(&self, k: usize) -> Option<u8> {
        self.b.get(self.i + k).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn lit(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    /// One or two digits (Go's `getnum(value, false)`).
    fn num(&mut self) -> Option<u32> {
        let d1 = self.peek().filter(u8::is_ascii_digit)?;
        self.i += 1;
        match self.peek().filter(u8::is_ascii_digit) {
            Some(d2) => {
                self.i += 1;
                Some(u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0'))
            }
            None => Some(u32::from(d1 - b'0')),
        }
    }
    /// Exactly two digits.
    fn fixed2(&mut self) -> Option<u32> {
        let d1 = self.next().filter(u8::is_ascii_digit)?;
        let d2 = self.next().filter(u8::is_ascii_digit)?;
        Some(u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_go_yaml_numbers() {
        assert_eq!(resolve("", "42"), Resolved::Int(42));
        assert_eq!(resolve("", "017"), Resolved::Int(15));
        assert_eq!(resolve("", "0o17"), Resolved::Int(15));
        assert_eq!(resolve("", "0x1F"), Resolved::Int(31));
        assert_eq!(resolve("", "-0x10"), Resolved::Int(-16));
        assert_eq!(resolve("", "1_000"), Resolved::Int(1000));
        assert_eq!(resolve("", "+12"), Resolved::Int(12));
        assert_eq!(resolve("", "0b101"), Resolved::Int(5));
        assert_eq!(resolve("", "08"), Resolved::Float(8.0));
        assert_eq!(resolve("", "9223372036854775808"), Resolved::Uint(1 << 63));
        assert_eq!(resolve("", "-9223372036854775808"), Resolved::Int(i64::MIN));
        assert_eq!(resolve("", "-9223372036854775809"), Resolved::Float(-9223372036854775809.0));
        assert_eq!(resolve("", "18446744073709551616"), Resolved::Float(18446744073709551616.0));
        assert_eq!(resolve("", "1e400"), Resolved::Str);
        assert_eq!(resolve("", "0x10000000000000000"), Resolved::Str);
        assert_eq!(resolve("", ".5"), Resolved::Float(0.5));
        assert_eq!(resolve("", "-.5"), Resolved::Float(-0.5));
        assert_eq!(resolve("", "1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve("", "12:30"), Resolved::Str);
        assert_eq!(resolve("", "0x"), Resolved::Str);
    }

    #[test]
    fn resolves_go_yaml_words() {
        assert_eq!(resolve("", "True"), Resolved::Bool(true));
        assert_eq!(resolve("", "yes"), Resolved::Str);
        assert_eq!(resolve("", "~"), Resolved::Null);
        assert_eq!(resolve("", ""), Resolved::Null);
        assert_eq!(resolve("", "<<"), Resolved::Str);
        assert!(matches!(resolve("", ".NaN"), Resolved::Float(f) if f.is_nan()));
        assert_eq!(resolve("", "-.INF"), Resolved::Float(f64::NEG_INFINITY));
        assert_eq!(resolve("", ".iNf"), Resolved::Str);
    }

    #[test]
    fn resolves_timestamps_like_time_parse() {
        let t = |s| match resolve("", s) {
            Resolved::Time(t) => Some(t.to_rfc3339_nano()),
            _ => None,
        };
        assert_eq!(t("2024-01-02").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(t("2024-1-2 3:4:5").as_deref(), Some("2024-01-02T03:04:05Z"));
        assert_eq!(
            t("2024-01-02T03:04:05.5+01:00").as_deref(),
            Some("2024-01-02T03:04:05.5+01:00")
        );
        assert_eq!(t("2024-01-02t03:04:05Z").as_deref(), Some("2024-01-02T03:04:05Z"));
        assert_eq!(t("2024-01-02T03:04:05"), None);
        assert_eq!(t("2024-01-02 03:04:05Z"), None);
        assert_eq!(t("2024-02-30"), None);
        assert_eq!(t("2024-13-01"), None);
        assert_eq!(t("2024-01-02T24:00:00Z"), None);
    }

    #[test]
    fn tagged_resolution_checks_the_tag() {
        assert_eq!(resolve_tagged("!!float", "3"), Ok(Resolved::Float(3.0)));
        assert_eq!(resolve_tagged("!!int", "12"), Ok(Resolved::Int(12)));
        assert_eq!(resolve_tagged("!!bool", "yes"), Err("!!str"));
        assert_eq!(resolve_tagged("!!str", "12"), Ok(Resolved::Str));
    }
}
