//! Typed scalar values and their SOPS serialisation: the `type:` tag, the canonical plaintext
//! bytes that are encrypted and hashed into the MAC, and parsing them back after decryption.

use zeroize::Zeroizing;

use super::timestamp::Timestamp;

/// A scalar leaf of the tree.
#[derive(Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text, or arbitrary bytes for the binary store and YAML `!!binary`.
    Str(Zeroizing<Vec<u8>>),
    Time(Timestamp),
}

/// The canonical bytes of a scalar: borrowed for text, owned (and wiped on drop) otherwise.
pub enum CanonicalBytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Zeroizing<Vec<u8>>),
}

impl CanonicalBytes<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            CanonicalBytes::Borrowed(b) => b,
            CanonicalBytes::Owned(v) => v,
        }
    }

    /// A copy that outlives the scalar, wiped on drop.
    pub fn to_zeroizing(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.as_slice().to_vec())
    }
}

impl PartialEq for CanonicalBytes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::ops::Deref for CanonicalBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// The SOPS type tag of an encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Str,
    Int,
    Float,
    Bool,
    Time,
    Comment,
}

/// Why decrypted bytes could not be read back as their declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScalarError {
    #[error("unknown value type {0:?} (expected str, int, float, bool, time or comment)")]
    UnknownType(String),
    #[error("the decrypted value is not a valid {0}")]
    Malformed(&'static str),
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
        }
    }

    /// Reads a `type:` tag. `bytes` (legacy Python sops) is read as `str`; sops 3.11 panics on it.
    pub fn parse(tag: &str) -> Result<Self, ScalarError> {
        Ok(match tag {
            "str" | "bytes" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            other => return Err(ScalarError::UnknownType(other.to_owned())),
        })
    }
}

impl Scalar {
    pub fn str(text: impl Into<String>) -> Scalar {
        Scalar::Str(Zeroizing::new(text.into().into_bytes()))
    }

    pub fn bytes(bytes: Vec<u8>) -> Scalar {
        Scalar::Str(Zeroizing::new(bytes))
    }

    /// The text of a string scalar that is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The type tag this value is encrypted with, or `None` for null (never encrypted).
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            Scalar::Null => return None,
            Scalar::Bool(_) => ValueType::Bool,
            Scalar::Int(_) => ValueType::Int,
            Scalar::Float(_) => ValueType::Float,
            Scalar::Str(_) => ValueType::Str,
            Scalar::Time(_) => ValueType::Time,
        })
    }

    /// The value is left as it is by encryption: null and the empty string.
    pub fn is_never_encrypted(&self) -> bool {
        match self {
            Scalar::Null => true,
            Scalar::Str(b) => b.is_empty(),
            _ => false,
        }
    }

    /// The canonical plaintext bytes (sops `ToBytes`): what is encrypted and what the MAC hashes.
    /// Text is borrowed, not copied (a binary file is one value of any size).
    pub fn canonical_bytes(&self) -> CanonicalBytes<'_> {
        let owned = |v: Vec<u8>| CanonicalBytes::Owned(Zeroizing::new(v));
        match self {
            Scalar::Str(b) => CanonicalBytes::Borrowed(b),
            Scalar::Null => CanonicalBytes::Borrowed(b""),
            Scalar::Bool(true) => CanonicalBytes::Borrowed(b"True"),
            Scalar::Bool(false) => CanonicalBytes::Borrowed(b"False"),
            Scalar::Int(i) => owned(i.to_string().into_bytes()),
            Scalar::Float(f) => owned(format_float_plain(*f).into_bytes()),
            Scalar::Time(t) => owned(t.to_rfc3339_nano().into_bytes()),
        }
    }

    /// Parses decrypted bytes as the given type (comments are handled by the caller).
    pub fn from_plaintext(ty: ValueType, bytes: Zeroizing<Vec<u8>>) -> Result<Scalar, ScalarError> {
        let text = || std::str::from_utf8(&bytes).ok();
        Ok(match ty {
            ValueType::Str | ValueType::Comment => Scalar::Str(bytes),
            ValueType::Int => {
                Scalar::Int(text().and_then(parse_go_int).ok_or(ScalarError::Malformed("int"))?)
            }
            ValueType::Float => Scalar::Float(
                text().and_then(parse_go_float).ok_or(ScalarError::Malformed("float"))?,
            ),
            ValueType::Bool => Scalar::Bool(match text() {
                Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
                Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
                _ => return Err(ScalarError::Malformed("bool")),
            }),
            ValueType::Time => Scalar::Time(
                text()
                    .and_then(|t| Timestamp::parse_rfc3339(t).ok())
                    .ok_or(ScalarError::Malformed("time"))?,
            ),
        })
    }
}

impl std::fmt::Debug for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Null => f.write_str("Null"),
            Scalar::Str(b) if b.starts_with(b"ENC[") => {
                write!(f, "Str({:?})", String::from_utf8_lossy(b))
            }
            Scalar::Str(_) => f.write_str("Str([REDACTED])"),
            _ => f.write_str("Scalar([REDACTED])"),
        }
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)` as sops uses it: optional sign, decimal digits.
fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms sops writes and accepts: decimal and exponent
/// notation, and the special values `+Inf`, `-Inf`, `Inf`, `NaN` (any case, as Go accepts them).
fn parse_go_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let negative = s.starts_with('-');
    match unsigned.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        "nan" if unsigned.len() == s.len() => return Some(f64::NAN),
        _ => {}
    }
    let ok = !unsigned.is_empty()
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
        && unsigned.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if !ok || unsigned.contains('_') {
        return None;
    }
    s.parse().ok()
}

/// Shortest round-trip decimal without an exponent, as Go's `strconv.FormatFloat(f, 'f', -1,
/// 64)`; the specials are `+Inf`, `-Inf` and `NaN`. This is the plaintext of a `float`.
pub fn format_float_plain(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form when the decimal
/// exponent is below -4 or at least 6 (`1e+06`, `6.02e+23`). Specials as [`format_float_plain`].
pub fn format_float_go_g(f: f64) -> String {
    if !f.is_finite() {
        return format_float_plain(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: "-6.02e23", "1e0".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}e{esign}{:02}", exp.unsigned_abs())
    } else {
        format!("{sign}{}", format_float_plain(f.abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_plaintext_matches_sops() {
        let cases = [
            (1e20, "100000000000000000000"),
            (0.5, "0.5"),
            (1.0, "1"),
            (-0.0, "-0"),
            (1e-7, "0.0000001"),
            (6.02e23, "602000000000000000000000"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_plain(f), want);
        }
    }

    #[test]
    fn go_g_format_switches_to_exponent_like_go() {
        let cases = [
            (6.02e23, "6.02e+23"),
            (1.2345678901234568e29, "1.2345678901234568e+29"),
            (2.5, "2.5"),
            (1.0, "1"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-3.5e-7, "-3.5e-07"),
            (0.0, "0"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_go_g(f), want, "{f}");
        }
    }

    #[test]
    fn canonical_bytes_of_bool_are_title_case() {
        assert_eq!(&*Scalar::Bool(true).canonical_bytes(), b"True");
        assert_eq!(&*Scalar::Bool(false).canonical_bytes(), b"False");
    }

    #[test]
    fn plaintext_parsing_accepts_what_go_accepts() {
        let parse = |ty, s: &str| Scalar::from_plaintext(ty, Zeroizing::new(s.as_bytes().to_vec()));
        assert_eq!(parse(ValueType::Int, "+5").unwrap(), Scalar::Int(5));
        assert_eq!(parse(ValueType::Int, "007").unwrap(), Scalar::Int(7));
        assert!(parse(ValueType::Int, "0x10").is_err());
        assert!(parse(ValueType::Int, "").is_err());
        assert_eq!(parse(ValueType::Float, "1e3").unwrap(), Scalar::Float(1000.0));
        assert_eq!(parse(ValueType::Float, "+Inf").unwrap(), Scalar::Float(f64::INFINITY));
        assert!(parse(ValueType::Float, "0x10").is_err());
        assert_eq!(parse(ValueType::Bool, "T").unwrap(), Scalar::Bool(true));
        assert!(parse(ValueType::Bool, "yes").is_err());
        assert!(matches!(parse(ValueType::Time, "2024-01-02T00:00:00Z").unwrap(), Scalar::Time(_)));
        assert!(ValueType::parse("bogus").is_err());
    }

    #[test]
    fn canonical_form_normalises_hand_made_plaintexts() {
        let s = Scalar::from_plaintext(ValueType::Bool, Zeroizing::new(b"true".to_vec())).unwrap();
        assert_eq!(&*s.canonical_bytes(), b"True");
        let s = Scalar::from_plaintext(ValueType::Int, Zeroizing::new(b"+5".to_vec())).unwrap();
        assert_eq!(&*s.canonical_bytes(), b"5");
    }
}
